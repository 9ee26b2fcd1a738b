// The queue's live part: every 30 seconds, what is new since the page was shown, in a
// polite live region. Without JavaScript the page is the same, less this line.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var since = live.getAttribute("data-since");
  function poll() {
    fetch("/queue/updates?since=" + encodeURIComponent(since), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (html.trim() !== live.innerHTML.trim()) { live.innerHTML = html; } })
      .catch(function () { /* the next round tries again */ });
  }
  window.setInterval(poll, 30000);
})();
