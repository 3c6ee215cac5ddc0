// Live updates: one EventSource per tab on /events (web/events). The server sends the
// topics that changed ("vm:<id>", "ticket:<id>", "inbox", "bell") among those this user
// may see; every element whose data-live lists one of them is re-fetched: elements with
// their own hx-get get the event "shepherd-live" (their hx-trigger), others are replaced
// by the same element of a fresh copy of the page. "refresh" re-fetches all of them
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

  function fetchOne(el) {
    if (!window.htmx) return;
    if (el.hasAttribute("hx-get")) {
      htmx.trigger(el, "shepherd-live");
    } else if (el.id) {
      htmx.ajax("GET", window.location.href, { source: el, target: el, select: "#" + el.id, swap: "outerHTML" });
    }
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
