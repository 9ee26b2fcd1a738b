// The pages' live parts: every 30 seconds, each region marked data-poll is asked again at
// the address it names (the queue: what is new since the page was shown; the analysis: its
// figures) and replaced when it changed, in a polite live region. Without JavaScript the
// page is the same, less the refresh.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var regions = document.querySelectorAll("[data-poll]");
  Array.prototype.forEach.call(regions, function (live) {
    var url = live.getAttribute("data-poll");
    function poll() {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html.trim() !== live.innerHTML.trim()) { live.innerHTML = html; }
        })
        .catch(function () { /* the next round tries again */ });
    }
    var every = parseInt(live.getAttribute("data-every") || "30000", 10);
    window.setInterval(poll, every > 999 ? every : 30000);
  });
})();
