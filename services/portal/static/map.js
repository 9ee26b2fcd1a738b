// The map of /cases and /report: Leaflet, served by the site itself. Without Leaflet (not
// installed, or no JavaScript) the page works as it is; without a tile server the points
// are drawn on a blank background.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("map");
    var source = document.getElementById("map-data");
    if (!box || !source || !window.L) { return; }
    var data = JSON.parse(source.textContent);
    box.textContent = "";
    var map = window.L.map(box).setView(data.center, data.zoom);
    if (data.tiles) {
      window.L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution || "" }).addTo(map);
    }
    var bounds = [];
    var names = data.statuses || {};
    (data.points || []).forEach(function (p) {  // [id, lat, lon, status]
      var done = p[3] === "resolved" || p[3] === "closed";
      var marker = window.L.circleMarker([p[1], p[2]], { radius: 6, weight: 1,
        color: done ? "#1b6b2f" : "#a61b1b" });
      var link = document.createElement("a");
      link.href = "/track/" + encodeURIComponent(p[0]);
      link.textContent = p[0] + " · " + (names[p[3]] || p[3]);
      marker.bindPopup(link).addTo(map);
      bounds.push([p[1], p[2]]);
    });
    if (bounds.length > 1) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 }); }
    if (box.getAttribute("data-pick") === "true") {
      var lat = document.getElementById("lat"), lon = document.getElementById("lon");
      var pin = null;
      map.on("click", function (e) {
        lat.value = e.latlng.lat.toFixed(6);
        lon.value = e.latlng.lng.toFixed(6);
        if (pin) { pin.setLatLng(e.latlng); } else { pin = window.L.marker(e.latlng).addTo(map); }
      });
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
