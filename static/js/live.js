// Live updates: one EventSource per tab on /events (web/events). The server sends the
// topics that changed ("vm:<id>", "ticket:<id>", "inbox", "bell") among those this user
// may see; every element whose data-live lists one of them (and which has an id) is
// re-fetched from its data-hx-get, or else replaced by the same element of a fresh copy of
// the page. (Its data-hx-trigger "shepherd-live" only keeps htmx from fetching on a click.) "refresh" re-fetches all of them
// (events may have been missed). While the stream is down, the elements are re-fetched
// every 30 s instead; an idle tab with a working stream sends nothing.
(function () {
  "use strict";
  var FALLBACK_MS = 30000;
  var source = null;
  var lastId = "";
  var fallback = null;

  function elements() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  // One fetch per element at a time; a change heard meanwhile fetches once more after it
  // (on the element that replaced this one), so the last state is always shown.
  var busy = {};

  function fetchOne(el) {
    var id = el.id;
    if (!window.htmx || !id) return;
    if (busy[id]) {
      busy[id] = "again";
      return;
    }
    busy[id] = "busy";
    var opts = { source: el, target: el, swap: "outerHTML" };
    var url = el.getAttribute("data-hx-get");
    if (!url) {
      url = window.location.href;
      opts.select = "#" + id;
    }
    var finished = false;
    function done() {
      if (finished) return;
      finished = true;
      var again = busy[id] === "again";
      delete busy[id];
      var now = document.getElementById(id);
      if (again && now) fetchOne(now);
    }
    htmx.ajax("GET", url, opts).then(done, done);
    window.setTimeout(done, 15000); // a fetch that never settles must not stop updates
  }

  function update(topics) {
    elements().forEach(function (el) {
      var want = el.getAttribute("data-live").split(/\s+/);
      for (var i = 0; i < topics.length; i++) {
        if (want.indexOf(topics[i]) >= 0) {
          fetchOne(el);
          return;
        }
      }
    });
  }

  // The version of each element as last fetched: the server answers 204 (nothing to swap)
  // when it has not changed, so a block is not replaced under the pointer for nothing.
  var versions = {};
  document.addEventListener("htmx:configRequest", function (ev) {
    var el = ev.detail.elt;
    if (el && el.id && busy[el.id] && versions[el.id]) ev.detail.headers["X-Live-Version"] = versions[el.id];
  });
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var el = ev.detail.elt;
    var v = ev.detail.xhr && ev.detail.xhr.getResponseHeader("X-Live-Version");
    if (el && el.id && v) versions[el.id] = v;
    // The first fetch after a page load has no version to send, so the server cannot
    // answer 204: compare the new block with the one shown and keep the shown one when
    // they are the same, so a link or button is never replaced under a click for nothing.
    if (el && el.id && busy[el.id] && ev.detail.xhr && ev.detail.xhr.status === 200 && sameAsShown(el, ev.detail.serverResponse)) {
      ev.detail.shouldSwap = false;
    }
  });

  var htmxClasses = ["htmx-request", "htmx-settling", "htmx-swapping", "htmx-added"];

  function sameAsShown(el, html) {
    if (typeof html !== "string" || !window.CSS || !CSS.escape) return false;
    var t = document.createElement("template");
    t.innerHTML = html;
    var incoming = t.content.querySelector("#" + CSS.escape(el.id));
    if (!incoming) return false;
    var shown = el.cloneNode(true);
    [shown].concat(Array.prototype.slice.call(shown.querySelectorAll("[class]"))).forEach(function (n) {
      htmxClasses.forEach(function (c) { n.classList.remove(c); });
      if (n.getAttribute("class") === "") n.removeAttribute("class");
    });
    return shown.isEqualNode(incoming);
  }

  function refreshAll() {
    elements().forEach(fetchOne);
  }

  function startFallback() {
    if (fallback) return;
    fallback = window.setInterval(function () {
      refreshAll();
      // A stream the server refused or ended for good is opened again from here.
      if (source && source.readyState === EventSource.CLOSED) connect();
    }, FALLBACK_MS);
  }

  function stopFallback() {
    if (!fallback) return;
    window.clearInterval(fallback);
    fallback = null;
  }

  function remember(ev) {
    if (ev.lastEventId) lastId = ev.lastEventId;
  }

  function connect() {
    if (source) source.close();
    var url = "/events" + (lastId ? "?last=" + encodeURIComponent(lastId) : "");
    source = new EventSource(url);
    source.addEventListener("change", function (ev) {
      remember(ev);
      update(ev.data.split(" "));
    });
    source.addEventListener("refresh", function (ev) {
      remember(ev);
      refreshAll();
    });
    source.addEventListener("open", function () {
      document.documentElement.setAttribute("data-live-stream", "open");
      stopFallback();
    });
    source.addEventListener("error", function () {
      document.documentElement.setAttribute("data-live-stream", "down");
      startFallback();
    });
  }

  function start() {
    if (!window.EventSource || elements().length === 0) return;
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
