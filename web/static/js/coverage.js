// The coverage map: households covered per area (areas from the vector tiles, shares from the coverage API), the
// reach as one outline, the uncovered buildings of the view, service points by kind and suggested new sites.
// Every text of ours comes from the page (#page-strings); every text from the data is set with textContent.
(function () {
  "use strict";
  var el = document.getElementById("coverage-map");
  var cfg = JSON.parse(el.dataset.config);
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  var status = document.getElementById("map-status");
  var e = cfg.extent;
  var map = L.map(el, { minZoom: 3, maxZoom: 19 });
  window.coverageMap = map;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.control.scale({ imperial: false }).addTo(map);
  var generation = cfg.generation ? "?generation=" + cfg.generation : "";
  var NO_HOUSEHOLDS = "#bdc3c7";
  var KIND_COLOURS = {
    grid_station: "#e76f51", community_centre: "#6a4c93", police: "#1d3557", clinic: "#d62828",
    hospital: "#9d0208", school: "#f4a261"
  };
  // buildings: dark dots (not covered) and white dots ringed green (covered), apart from the coloured service points
  var UNCOVERED = "#1b1b1b", COVERED = "#ffffff", COVERED_RING = "#145a32";

  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (cls) { node.className = cls; }
    return node;
  }
  function fail() { status.textContent = T.loadFailed; }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }
  function bboxOfView() {
    var b = map.getBounds();
    return [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -85), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 85)]
      .map(function (v) { return v.toFixed(6); }).join(",");
  }
  function zoom() { return Math.max(0, Math.min(Math.round(map.getZoom()), 22)); }
  function percent(share) { return share === null || share === undefined ? T.noHouseholds : (Math.round(share * 1000) / 10) + "%"; }
  function fill(lines) {  // a popup of "label: value" lines, the first one bold
    var box = document.createElement("div");
    box.className = "coverage-tip";
    lines.forEach(function (line, i) {
      if (i === 0) { box.appendChild(text("strong", line)); return; }
      box.appendChild(text("div", line));
    });
    return box;
  }

  // red (nobody covered) -> yellow -> green (everyone covered)
  var STOPS = [[0, [192, 57, 43]], [0.5, [241, 196, 15]], [1, [39, 174, 96]]];
  function colour(share) {
    if (share === null || share === undefined) { return NO_HOUSEHOLDS; }
    var s = Math.max(0, Math.min(1, share));
    var i = s <= 0.5 ? 0 : 1;
    var a = STOPS[i], b = STOPS[i + 1], t = (s - a[0]) / (b[0] - a[0]);
    var rgb = a[1].map(function (v, k) { return Math.round(v + (b[1][k] - v) * t); });
    return "rgb(" + rgb.join(",") + ")";
  }

  // -- the choropleth: the lowest level with figures drawn at this zoom -------------------------------------------
  var choropleth = L.layerGroup().addTo(map);
  var figures = {};  // level -> code -> row [code, name, share, households, covered, uncovered buildings]
  var shown = { level: null, layer: null };
  function levelFor(z) {
    var chosen = null;
    cfg.levels.forEach(function (lv) { if ((cfg.levelZoom[lv] || 0) <= z) { chosen = lv; } });
    return chosen || cfg.levels[0];
  }
  function areaLayer(level) {
    var rows = figures[level];
    var styles = {};
    styles[level] = function (props) {
      var f = rows[props.code];
      if (!f) { return []; }  // outside the run's area: not drawn
      return { color: "#34495e", weight: 0.8, fill: true, fillColor: colour(f[2]), fillOpacity: 0.6, opacity: 0.8 };
    };
    var layer = L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", level) + generation, {
      vectorTileLayerStyles: styles, interactive: true, maxNativeZoom: 18,
      getFeatureId: function (f) { return f.properties.code; }
    });
    layer.on("click", function (ev) {
      var f = rows[ev.layer.properties.code];
      if (!f) { return; }
      L.popup().setLatLng(ev.latlng).setContent(fill([
        f[1], T.levels[level] || level, T.share + ": " + percent(f[2]),
        T.households + ": " + f[4] + " / " + f[3], T.uncovered + ": " + f[5]
      ])).openOn(map);
    });
    return layer;
  }
  function showLevel() {
    var level = levelFor(zoom());
    if (!level || level === shown.level) { return; }
    shown.level = level;
    var draw = function () {
      if (shown.level !== level) { return; }
      if (shown.layer) { choropleth.removeLayer(shown.layer); }
      shown.layer = areaLayer(level);
      choropleth.addLayer(shown.layer);
      drawLegend(level);
    };
    if (figures[level]) { draw(); return; }
    getJSON(cfg.areasApi + "&level=" + encodeURIComponent(level)).then(function (data) {
      var rows = {};
      data.areas.forEach(function (row) { rows[row[0]] = row; });
      figures[level] = rows;
      draw();
    }).catch(fail);
  }

  // -- the reach: one outline, simplified for the zoom ------------------------------------------------------------
  var reach = L.geoJSON(null, {
    style: function () { return { color: "#1f5f99", weight: 2, dashArray: "6 4", fill: false, className: "reach-outline" }; },
    interactive: false
  }).addTo(map);
  var reachZoom = null;
  function loadReach() {
    var z = Math.min(zoom(), 17);  // whole from zoom 17
    if (z === reachZoom || !map.hasLayer(reach)) { return; }
    reachZoom = z;
    getJSON(cfg.reachApi + "&zoom=" + z).then(function (data) {
      if (reachZoom !== z) { return; }
      reach.clearLayers();
      reach.addData(data);
    }).catch(fail);
  }

  // -- buildings of the view: the uncovered ones (covered ones too from a high zoom) ------------------------------
  var dots = L.canvas({ padding: 0.2 });
  var buildings = L.layerGroup().addTo(map);
  var buildingRequest = 0;
  function loadBuildings() {
    if (!map.hasLayer(buildings)) { status.textContent = ""; return; }
    var mine = ++buildingRequest;
    var z = zoom();
    getJSON(cfg.buildingsApi + "&bbox=" + bboxOfView() + "&zoom=" + z).then(function (data) {
      if (mine !== buildingRequest) { return; }
      buildings.clearLayers();
      var radius = z >= 17 ? 6 : z >= 15 ? 4 : z >= 13 ? 3 : 2;
      data.buildings.forEach(function (row) {
        var covered = row[3];
        var marker = L.circleMarker([row[2], row[1]], {
          renderer: dots, radius: radius, weight: covered ? 1.5 : 0.5, color: covered ? COVERED_RING : "#fff",
          fillColor: covered ? COVERED : UNCOVERED, fillOpacity: 0.85
        });
        marker.bindPopup(function () {
          return fill([
            row[6] || (covered ? T.coveredBuildings : T.uncovered), covered ? T.covered : T.notCovered,
            T.households + ": " + row[4], T.nearest + ": " + (row[5] === null ? T.beyond : row[5])
          ]);
        });
        buildings.addLayer(marker);
      });
      var uncovered = data.buildings.filter(function (row) { return !row[3]; }).length;
      var said = uncovered < data.uncovered
        ? T.shown.replace("%(shown)s", String(uncovered)).replace("%(total)s", String(data.uncovered))
        : T.allShown.replace("%(n)s", String(data.uncovered));
      if (data.covered === null && data.uncovered < data.limit) { said += " · " + T.coveredFrom.replace("%(z)s", String(cfg.coveredZoom)); }
      status.textContent = said;
    }).catch(fail);
  }

  // -- service points of every kind, coloured by kind (the analysed kind larger) ----------------------------------
  var POINTS_ZOOM = 14;  // below it a city's points would hide everything else
  var points = L.layerGroup().addTo(map);
  var kindsSeen = {};
  var pointRequest = 0;
  function loadPoints() {
    if (!map.hasLayer(points) || zoom() < POINTS_ZOOM) { points.clearLayers(); return; }
    var mine = ++pointRequest;
    var query = "?bbox=" + bboxOfView() + "&zoom=" + zoom() + (cfg.generation ? "&generation=" + cfg.generation : "");
    getJSON(cfg.pointsApi + query).then(function (data) {
      if (mine !== pointRequest) { return; }
      points.clearLayers();
      var fresh = false;
      var size = zoom() >= 16 ? 6 : zoom() >= 15 ? 4 : 3;  // small while many points share the screen
      L.geoJSON(data, {
        pointToLayer: function (f, latlng) {
          var kind = f.properties.kind;
          if (!kindsSeen[kind]) { kindsSeen[kind] = true; fresh = true; }
          return L.circleMarker(latlng, {
            radius: (kind === cfg.kind ? 2 : 0) + size, color: "#fff", weight: size > 4 ? 2 : 1,
            fillColor: KIND_COLOURS[kind] || "#555", fillOpacity: 1
          });
        },
        onEachFeature: function (f, layer) {
          layer.bindPopup(function () {
            return fill([f.properties.name || T.points, T.kinds[f.properties.kind] || f.properties.kind]);
          });
        }
      }).addTo(points);
      if (fresh && shown.level) { drawLegend(shown.level); }
    }).catch(fail);
  }

  // -- suggested new sites ------------------------------------------------------------------------------------------
  var sites = L.layerGroup();
  cfg.sites.forEach(function (site, i) {
    var label = text("span", "+");
    var marker = L.marker([site[1], site[0]], {
      icon: L.divIcon({ className: "site-icon", html: label, iconSize: [20, 20] }), title: T.sites + " " + (i + 1)
    });
    marker.bindPopup(function () { return fill([T.sites + " " + (i + 1), T.added + ": " + site[2]]); });
    sites.addLayer(marker);
  });
  if (cfg.sites.length) { sites.addTo(map); }

  // -- layer control and legend ----------------------------------------------------------------------------------
  var overlays = {};
  overlays[T.share] = choropleth;
  overlays[T.reach] = reach;
  overlays[T.uncovered] = buildings;
  overlays[T.points] = points;
  if (cfg.sites.length) { overlays[T.sites] = sites; }
  L.control.layers(null, overlays, { collapsed: window.innerWidth < 640 }).addTo(map);

  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend-box");
    box.id = "legend";
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  legend.addTo(map);
  function swatch(cls, background, label) {
    var row = document.createElement("div");
    var i = document.createElement("i");
    if (cls) { i.className = cls; }
    if (background) { i.style.background = background; }
    row.appendChild(i);
    row.appendChild(document.createTextNode(label));
    return row;
  }
  function drawLegend(level) {
    var box = document.getElementById("legend");
    box.textContent = "";
    box.appendChild(text("h4", T.share + " · " + (T.levels[level] || level)));
    var ramp = text("div", "", "ramp");
    for (var k = 0; k <= 10; k++) {
      var part = document.createElement("span");
      part.style.background = colour(k / 10);
      ramp.appendChild(part);
    }
    box.appendChild(ramp);
    var ticks = text("div", "", "ticks");
    ["0%", "50%", "100%"].forEach(function (t) { ticks.appendChild(text("span", t)); });
    box.appendChild(ticks);
    box.appendChild(swatch(null, NO_HOUSEHOLDS, T.noHouseholds));
    var key = text("div", "", "layers-key");
    key.appendChild(swatch("line", null, T.reach));
    key.appendChild(swatch("dot", UNCOVERED, T.uncovered));
    var ring = swatch("dot", COVERED, T.coveredBuildings);
    ring.firstChild.style.borderColor = COVERED_RING;
    key.appendChild(ring);
    Object.keys(kindsSeen).sort().forEach(function (kind) {
      key.appendChild(swatch("dot", KIND_COLOURS[kind] || "#555", T.kinds[kind] || kind));
    });
    if (cfg.sites.length) { key.appendChild(swatch(null, "#8e44ad", T.sites)); }
    box.appendChild(key);
  }

  map.on("zoomend", function () { showLevel(); loadReach(); });
  map.on("moveend", function () { loadBuildings(); loadPoints(); });
  map.on("overlayadd", function (ev) {
    if (ev.layer === reach) { reachZoom = null; loadReach(); }
    if (ev.layer === buildings) { loadBuildings(); }
    if (ev.layer === points) { loadPoints(); }
  });
  map.on("overlayremove", function (ev) { if (ev.layer === buildings) { status.textContent = ""; } });
  showLevel();
  loadReach();
  loadBuildings();
  loadPoints();
})();
