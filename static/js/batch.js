// Batch selection on lists (VM list, approval inbox): forms marked data-batch hold one
// checkbox per row. Without this script they are plain forms and work as such. With it:
// "select all on this page" checkboxes (data-batch-all), shift-click to tick a range, a
// live count in [data-batch-count], and the selection survives the live updates that
// replace the rows (static/js/live.js): it is kept here by value and put back after each
// swap; rows that are gone are dropped from it.
(function () {
  "use strict";
  var selections = {}; // form id -> { value: true }
  var last = {}; // form id -> value of the last row checkbox clicked (for shift-click)

  function forms() {
    return Array.prototype.slice.call(document.querySelectorAll("form[data-batch]"));
  }

  function boxes(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[type="checkbox"][name="' + form.getAttribute("data-batch") + '"]'));
  }

  function sel(form) {
    if (!selections[form.id]) selections[form.id] = {};
    return selections[form.id];
  }

  var hint = {};

  function render(form) {
    var all = boxes(form);
    var s = sel(form);
    var n = 0;
    all.forEach(function (b) {
      if (s[b.value]) n++;
    });
    form.querySelectorAll("[data-batch-all]").forEach(function (a) {
      a.hidden = false;
      var label = a.closest("label");
      if (label) label.hidden = false;
      a.checked = all.length > 0 && n === all.length;
      a.indeterminate = n > 0 && n < all.length;
    });
    var count = form.querySelector("[data-batch-count]");
    if (count) {
      if (!(form.id in hint)) hint[form.id] = count.textContent;
      var noun = form.getAttribute("data-batch-noun") || "item";
      count.textContent = n === 0 ? hint[form.id] : n + " " + noun + (n === 1 ? "" : "s") + " selected.";
    }
  }

  // Put the kept selection back on the (possibly new) checkboxes; forget rows that left.
  function restore(form) {
    var s = sel(form);
    var present = {};
    boxes(form).forEach(function (b) {
      present[b.value] = true;
      b.checked = !!s[b.value];
    });
    Object.keys(s).forEach(function (v) {
      if (!present[v]) delete s[v];
    });
    render(form);
  }

  // Start from what the page shows (a form re-shown by the browser may have ticks).
  function adopt(form) {
    var s = sel(form);
    boxes(form).forEach(function (b) {
      if (b.checked) s[b.value] = true;
    });
    render(form);
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target;
    if (!b || b.type !== "checkbox") return;
    var form = b.form;
    if (!form || !form.hasAttribute("data-batch")) return;
    var s = sel(form);
    if (b.hasAttribute("data-batch-all")) {
      boxes(form).forEach(function (x) {
        x.checked = b.checked;
        if (b.checked) s[x.value] = true;
        else delete s[x.value];
      });
      render(form);
      return;
    }
    if (b.name !== form.getAttribute("data-batch")) return;
    var all = boxes(form);
    var prev = last[form.id];
    if (ev.shiftKey && prev) {
      var i = all.findIndex(function (x) { return x.value === prev; });
      var j = all.indexOf(b);
      if (i >= 0 && j >= 0) {
        for (var k = Math.min(i, j); k <= Math.max(i, j); k++) {
          all[k].checked = b.checked;
          if (b.checked) s[all[k].value] = true;
          else delete s[all[k].value];
        }
      }
    }
    if (b.checked) s[b.value] = true;
    else delete s[b.value];
    last[form.id] = b.value;
    render(form);
  });

  // Space on a focused checkbox is a click too, so keyboard users get the same count.
  document.addEventListener("htmx:afterSettle", function () {
    forms().forEach(restore);
  });
  // A submit that the browser keeps in history must not come back ticked.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) return;
    forms().forEach(function (f) {
      selections[f.id] = {};
      boxes(f).forEach(function (b) { b.checked = false; });
      render(f);
    });
  });

  function start() {
    forms().forEach(adopt);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
