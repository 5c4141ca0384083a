// Keeps a server-rendered region fresh: on each server-sent event, fetch the page again and swap
// the region. Without JavaScript the page still works; it just needs a reload.
(function () {
  "use strict";
  var script = document.currentScript;
  var source = script.dataset.events;
  var targetId = script.dataset.target;
  if (!window.EventSource || !source || !targetId) return;
  var refreshing = false;
  var again = false; // a change arrived while a fetch was under way: that fetch may predate it
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    again = false;
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
      .finally(function () {
        refreshing = false;
        if (again) refresh();
      });
  }
  var events = new EventSource(source);
  events.addEventListener("changed", refresh);
})();
