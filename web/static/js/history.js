// The history page's two maps: before | after, areas coloured by change, buildings that moved as dots, the views
// kept in sync. The data is the diff API's GeoJSON (the same diff as the page's tables); every text from the data
// is set as text, every text of ours comes from the page (#page-strings), in the page's language.
(function () {
  "use strict";
  var box = document.getElementById("maps");
  if (!box) { return; }
  var cfg = JSON.parse(box.dataset.config);
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  var status = document.getElementById("map-status");
  var maps = {
    before: L.map("map-before", { preferCanvas: true, minZoom: 3, maxZoom: 20 }),
    after: L.map("map-after", { preferCanvas: true, minZoom: 3, maxZoom: 20 })
  };
  window.historyMaps = maps;
  var syncing = false;
  function follow(from, to) {
    from.on("move", function () {
      if (syncing) { return; }
      syncing = true;
      to.setView(from.getCenter(), from.getZoom(), { animate: false });
      syncing = false;
    });
  }
  follow(maps.before, maps.after);
  follow(maps.after, maps.before);
  Object.keys(maps).forEach(function (side) { L.control.scale({ imperial: false }).addTo(maps[side]); });

  function tooltip(p) {
    var div = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = p.name || p.address || "";
    div.appendChild(title);
    var line = document.createElement("div");
    if (p.change === "moved") {
      line.textContent = T.households + " " + p.households + " · " + T.from + " " + (p.from_name || "—") + " · " + T.to + " " + (p.to_name || "—");
    } else {
      line.textContent = T.changes[p.change] || p.change;
    }
    div.appendChild(line);
    return div;
  }

  function draw(data) {
    var bounds = null;
    ["before", "after"].forEach(function (side) {
      var features = data.features.filter(function (f) {
        return f.properties.side === side || f.properties.side === "both";
      });
      var layer = L.geoJSON({ type: "FeatureCollection", features: features }, {
        style: function (f) {
          var colour = cfg.colours[f.properties.change] || "#888";
          return { color: "#333", weight: 1, fillColor: colour, fillOpacity: f.properties.change === "unchanged" ? 0.2 : 0.55 };
        },
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { radius: 4, color: "#fff", weight: 1, fillColor: cfg.colours.moved, fillOpacity: 0.9 });
        },
        onEachFeature: function (f, l) { l.bindTooltip(tooltip(f.properties), { sticky: true }); }
      }).addTo(maps[side]);
      var b = layer.getBounds();
      if (b.isValid()) { bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast()); }
    });
    if (bounds) {
      syncing = true;
      maps.before.fitBounds(bounds);
      maps.after.fitBounds(bounds);
      syncing = false;
    } else {
      maps.before.setView([30.65, 104.08], 13);
    }
    status.textContent = "";
  }

  status.textContent = T.loading;
  fetch(cfg.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
    .then(draw)
    .catch(function () { status.textContent = T.failed; });
})();
