// The case page's map: the case's point on Leaflet (the public site's copy, served under
// /static/vendor). Without Leaflet or JavaScript the page keeps the coordinates and the
// geo: link; without a tile server the point is drawn on a blank background.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("map");
    var source = document.getElementById("map-data");
    if (!box || !source || !window.L) { return; }
    var data = JSON.parse(source.textContent);
    box.textContent = "";
    var map = window.L.map(box).setView([data.lat, data.lon], 16);
    if (data.tiles) {
      window.L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution || "" }).addTo(map);
    }
    // An exact point, or the circle of about 110 m it was rounded to for this reader.
    if (data.exact) {
      window.L.circleMarker([data.lat, data.lon], { radius: 8, weight: 2, color: "#a61b1b" }).addTo(map);
    } else {
      window.L.circle([data.lat, data.lon], { radius: 110, weight: 2, color: "#a61b1b" }).addTo(map);
    }
    box.setAttribute("data-ready", "true");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
