// The charts of /stats, drawn by Chart.js from the JSON the page carries; the tables beside
// them hold the same numbers for readers without JavaScript or a screen.
(function () {
  "use strict";
  function bar(id, labels, sets, horizontal) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) { return; }
    canvas.parentNode.className += " on";
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: sets },
      options: { maintainAspectRatio: false, indexAxis: horizontal ? "y" : "x", animation: false,
        plugins: { legend: { display: sets.length > 1 } } }
    });
  }
  function start() {
    var source = document.getElementById("stats-data");
    if (!source || !window.Chart) { return; }
    var d = JSON.parse(source.textContent), n = d.labels.cases;
    bar("chart-category", d.category.labels, [{ label: n, data: d.category.values, backgroundColor: "#0b5394" }], true);
    bar("chart-village", d.village.labels, [{ label: n, data: d.village.values, backgroundColor: "#0b5394" }], true);
    bar("chart-month", d.month.labels, [
      { label: d.labels.received, data: d.month.received, backgroundColor: "#0b5394" },
      { label: d.labels.resolved, data: d.month.resolved, backgroundColor: "#1b6b2f" }], false);
    bar("chart-resolve", d.resolve.labels, [{ label: n, data: d.resolve.values, backgroundColor: "#073763" }], false);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
