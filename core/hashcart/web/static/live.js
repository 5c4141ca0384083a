// Keeps a server-rendered region fresh: on each server-sent event, fetch the page again and swap
// the region. Without JavaScript the page still works; it just needs a reload.
(function () {
  "use strict";
  var script = document.currentScript;
  var source = script.dataset.events;
  var targetId = script.dataset.target;
  if (!window.EventSource || !source || !targetId) return;
  var refreshing = false;
  function refresh() {
    if (refreshing) return;
    refreshing = true;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(targetId);
        var current = document.getElementById(targetId);
        var editing = current && current.contains(document.activeElement) &&
          document.activeElement.tagName === "INPUT";
        if (fresh && current && !editing) current.innerHTML = fresh.innerHTML;
      })
      .finally(function () { refreshing = false; });
  }
  var events = new EventSource(source);
  events.addEventListener("changed", refresh);
})();
