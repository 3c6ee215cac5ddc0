// Shepherd's own script: small progressive enhancements only. Pages work without it.
(function () {
  "use strict";
  // Close the account menu when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (ev) {
    document.querySelectorAll("details.dropdown[open], details.nav-fold[open]").forEach(function (d) {
      if (!d.contains(ev.target)) d.removeAttribute("open");
    });
  });
  // A form answered with errors opens with its error summary focused, so it is read out
  // first and its links lead to the fields (also when htmx swapped the form in).
  function focusSummary(root) {
    var s = (root || document).querySelector(".error-summary");
    if (s) s.focus();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { focusSummary(); });
  } else {
    focusSummary();
  }
  document.addEventListener("htmx:afterSettle", function (ev) { focusSummary(ev.target); });
  // A summary link leads to its field; a field without that id (a group of checkboxes) is
  // found by its name instead.
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest(".error-summary a[data-field]");
    if (!a) return;
    var name = a.getAttribute("data-field");
    var el = document.getElementById("f-" + name) || document.querySelector('[name="' + CSS.escape(name) + '"]');
    if (!el) return;
    ev.preventDefault();
    el.scrollIntoView({ block: "center" });
    el.focus();
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    document.querySelectorAll("details.dropdown[open], details.nav-fold[open]").forEach(function (d) {
      d.removeAttribute("open");
      var s = d.querySelector("summary");
      if (s) s.focus();
    });
  });
})();
