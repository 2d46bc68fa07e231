// The issue map: issues clustered and coloured by state, a heat layer, and a choropleth of the areas of one level.
// Data come as JSON from the API (the page's own filters); every text from the data is set with textContent.
(function () {
  "use strict";
  var el = document.getElementById("issuemap");
  var cfg = JSON.parse(el.dataset.config);
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  var status = document.getElementById("map-status");
  var e = cfg.extent;
  // the heat layer reaches full strength at this zoom: the map opens no closer, so heat shows from the start
  var HEAT_MAX_ZOOM = 17;
  var map = L.map(el, { minZoom: 3, maxZoom: 19 });
  map.on("zoomend", function () { el.dataset.zoom = String(map.getZoom()); });
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]], { maxZoom: HEAT_MAX_ZOOM });
  el.dataset.zoom = String(map.getZoom());
  L.control.scale({ imperial: false }).addTo(map);

  var STATE_COLOURS = {
    reported: "#e63946", accepted: "#f4a261", filed: "#e9c46a", dispatched: "#2a9df4", in_progress: "#1d4ed8",
    checked: "#7c3aed", closed: "#2a9d8f", void: "#9ca3af", parked: "#6b7280"
  };
  var PALETTES = {
    count: ["#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#8c2d04", "#5a1a01", "#3a1000", "#2a0b00", "#1a0600"],
    overdue_rate: ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15", "#67000d", "#4a0009", "#300006", "#200004"],
    on_time_rate: ["#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c", "#00441b", "#003314", "#00220d", "#001106"]
  };
  // from the most urgent (nobody has taken it yet) to the least: a cluster takes the colour of its most urgent issue
  var URGENCY = ["reported", "accepted", "filed", "dispatched", "in_progress", "checked", "parked", "closed", "void"];
  var LIGHT = { filed: true, accepted: true };  // colours that need dark text
  // areas without figures are hatched grey, unlike any class colour (a 0 % class is a colour, not "no data")
  var NO_DATA = "url(#issuemap-no-data)";
  var NO_DATA_SWATCH = "repeating-linear-gradient(45deg, #6b7280 0 2px, #ffffff 2px 6px)";
  var SVG_NS = "http://www.w3.org/2000/svg";

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

  // How long from one instant to another: hours below two days, else days.
  function span(from, to) {
    var hours = (to - Date.parse(from)) / 3600000;
    if (!isFinite(hours)) { return ""; }
    if (hours < 48) { return T.hours.replace("%(n)s", String(Math.max(0, Math.round(hours)))); }
    return T.days.replace("%(n)s", String(Math.floor(hours / 24)));
  }

  // An instant as wall-clock time in the deployment's zone (as the pages show times), YYYY-MM-DD HH:MM.
  function wallClock(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) { return ""; }
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: cfg.tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23"
    }).formatToParts(when).forEach(function (part) { parts[part.type] = part.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }

  // A popup built from DOM nodes: category, state, age (open) or when it ended and how long it took, a link.
  function popup(p) {
    var box = document.createElement("div");
    box.className = "issue-popup";
    var dl = document.createElement("dl");
    var rows = [[T.category, T.categories[p.category] || p.category], [T.state, T.states[p.state] || p.state]];
    if ((p.state === "closed" || p.state === "void") && p.closed) {
      rows.push([p.state === "closed" ? T.closedAt : T.voidedAt, wallClock(p.closed)]);
      rows.push([T.took, span(p.created, Date.parse(p.closed))]);
    } else {
      rows.push([T.age, span(p.created, Date.now())]);
    }
    rows.forEach(function (pair) { dl.appendChild(text("dt", pair[0])); dl.appendChild(text("dd", pair[1])); });
    box.appendChild(dl);
    var a = text("a", T.open + " #" + p.id);
    a.href = cfg.issue + encodeURIComponent(String(p.id));
    box.appendChild(a);
    return box;
  }

  // A cluster: the count, in the colour of the most urgent state among its issues (as the legend shows them).
  function clusterIcon(cluster) {
    var best = URGENCY.length;
    cluster.getAllChildMarkers().forEach(function (m) {
      var rank = URGENCY.indexOf(m.options.state);
      if (rank >= 0 && rank < best) { best = rank; }
    });
    var state = URGENCY[best] || "";
    var node = document.createElement("div");
    node.dataset.state = state;
    node.style.background = STATE_COLOURS[state] || "#6b7280";
    node.style.color = LIGHT[state] ? "#1f2937" : "#ffffff";
    node.appendChild(text("span", String(cluster.getChildCount())));
    return L.divIcon({ html: node, className: "marker-cluster issue-cluster", iconSize: L.point(40, 40) });
  }

  var clusters = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50, iconCreateFunction: clusterIcon });
  var heat = L.heatLayer([], { radius: 22, blur: 18, maxZoom: HEAT_MAX_ZOOM });
  var choropleth = L.geoJSON(null, {
    style: function () { return { color: "#555", weight: 1, fillOpacity: 0.55, fillColor: NO_DATA }; }
  });
  choropleth.addTo(map);
  clusters.addTo(map);
  var overlays = {};
  overlays[T.issues] = clusters;
  overlays[T.heat] = heat;
  overlays[T.choropleth] = choropleth;
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);

  // Issue points: [id, lon, lat, state, category, created_at, closed_at] (none when the filters were not understood)
  (cfg.error ? Promise.resolve({ points: [], total: 0 }) : getJSON(cfg.points)).then(function (data) {
    var latlngs = [];
    var markers = data.points.map(function (row) {
      var p = { id: row[0], lon: row[1], lat: row[2], state: row[3], category: row[4], created: row[5], closed: row[6] };
      var icon = L.divIcon({ className: "issue-dot st-" + p.state, iconSize: [14, 14] });
      var marker = L.marker([p.lat, p.lon], { icon: icon, title: T.categories[p.category] || p.category, state: p.state });
      marker.on("add", function () {
        var node = marker.getElement();
        if (node) { node.style.background = STATE_COLOURS[p.state] || "#333"; }
      });
      marker.bindPopup(function () { return popup(p); });
      latlngs.push([p.lat, p.lon]);
      return marker;
    });
    clusters.addLayers(markers);
    heat.setLatLngs(latlngs);
    status.textContent = T.shown.replace("%(shown)s", String(data.points.length)).replace("%(total)s", String(data.total));
  }).catch(fail);

  // The choropleth: figures per area joined by code to the area polygons of the layer API.
  var figures = null;
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend-box");
    box.id = "legend";
    var classes = L.DomUtil.create("div", "legend-classes", box);
    classes.id = "legend-classes";
    var states = L.DomUtil.create("div", "legend-states", box);
    states.id = "legend-states";
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  legend.addTo(map);

  // each part of the legend shows only while its layer is on the map (the box goes when both are off)
  function showLegend() {
    var classes = document.getElementById("legend-classes");
    var states = document.getElementById("legend-states");
    classes.hidden = !(figures && map.hasLayer(choropleth));
    states.hidden = !map.hasLayer(clusters);
    document.getElementById("legend").hidden = classes.hidden && states.hidden;
  }
  map.on("overlayadd overlayremove", showLegend);

  // the hatch of "no data", defined once in the SVG the area polygons are drawn in
  function hatch() {
    var svg = el.querySelector(".leaflet-overlay-pane svg");
    if (!svg || svg.querySelector("#issuemap-no-data")) { return; }
    var defs = document.createElementNS(SVG_NS, "defs");
    var pattern = document.createElementNS(SVG_NS, "pattern");
    pattern.setAttribute("id", "issuemap-no-data");
    pattern.setAttribute("patternUnits", "userSpaceOnUse");
    pattern.setAttribute("width", "8");
    pattern.setAttribute("height", "8");
    pattern.setAttribute("patternTransform", "rotate(45)");
    var back = document.createElementNS(SVG_NS, "rect");
    back.setAttribute("width", "8");
    back.setAttribute("height", "8");
    back.setAttribute("fill", "#ffffff");
    var line = document.createElementNS(SVG_NS, "rect");
    line.setAttribute("width", "2.5");
    line.setAttribute("height", "8");
    line.setAttribute("fill", "#6b7280");
    pattern.appendChild(back);
    pattern.appendChild(line);
    defs.appendChild(pattern);
    svg.insertBefore(defs, svg.firstChild);
  }

  function colour(cls) {
    if (cls === null || cls === undefined) { return NO_DATA; }
    var palette = PALETTES[figures.measure] || PALETTES.count;
    var n = figures.classes.length;
    // spread the classes over the palette's first five colours
    var i = n <= 1 ? 2 : Math.round(cls * 4 / (n - 1));
    return palette[i];
  }

  function format(v) {
    if (v === null || v === undefined) { return T.noData; }
    return figures.measure === "count" ? String(v) : (Math.round(v * 1000) / 10) + "%";
  }

  function drawLegend() {
    var box = document.getElementById("legend-classes");
    box.textContent = "";
    box.appendChild(text("h4", T.measure + " · " + T.level));
    figures.classes.forEach(function (c, i) {
      var row = document.createElement("div");
      row.className = "legend-class";
      var sw = document.createElement("i");
      sw.style.background = colour(i);
      row.appendChild(sw);
      var label = c.lower === c.upper ? format(c.lower) : format(c.lower) + " – " + format(c.upper);
      row.appendChild(document.createTextNode(label + " (" + c.count + ")"));
      box.appendChild(row);
    });
    var none = document.createElement("div");
    none.className = "legend-no-data";
    var sw = document.createElement("i");
    sw.style.background = NO_DATA_SWATCH;
    none.appendChild(sw);
    none.appendChild(document.createTextNode(T.noData));
    box.appendChild(none);
    showLegend();
  }

  // the states, most urgent first: the colours of the issue dots and of the clusters
  function drawStates() {
    var states = document.getElementById("legend-states");
    states.appendChild(text("h4", T.state));
    URGENCY.forEach(function (s) {
      var row = document.createElement("div");
      var dot = document.createElement("i");
      dot.className = "dot";
      dot.dataset.state = s;
      dot.style.background = STATE_COLOURS[s];
      row.appendChild(dot);
      row.appendChild(document.createTextNode(T.states[s] || s));
      states.appendChild(row);
    });
    states.appendChild(text("p", T.clusters, "legend-note"));
  }
  drawStates();
  showLegend();

  var byCode = {};
  var pending = null;
  function loadAreas() {
    if (!figures || !map.hasLayer(choropleth)) { return; }
    var b = map.getBounds();
    var clamp = function (v, lim) { return Math.max(-lim, Math.min(lim, v)).toFixed(6); };
    var bbox = [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)];
    var url = cfg.layer + "?bbox=" + bbox.join(",") + "&zoom=" + Math.min(Math.round(map.getZoom()), 22);
    pending = url;
    getJSON(url).then(function (data) {
      if (pending !== url) { return; }
      choropleth.clearLayers();
      choropleth.addData(data);
      hatch();
      choropleth.eachLayer(function (layer) {
        var f = byCode[layer.feature.properties.code];
        layer.setStyle({ fillColor: colour(f ? f["class"] : null) });
        var tip = document.createElement("div");
        tip.appendChild(text("strong", f ? f.name : layer.feature.properties.name || ""));
        tip.appendChild(document.createElement("br"));
        tip.appendChild(document.createTextNode(T.measure + ": " + format(f ? f.value : null)));
        layer.bindTooltip(tip, { sticky: true });
      });
      choropleth.bringToBack();
    }).catch(fail);
  }

  if (!cfg.error) {
    getJSON(cfg.figures).then(function (data) {
      figures = data;
      data.areas.forEach(function (a) { byCode[a.code] = a; });
      drawLegend();
      loadAreas();
    }).catch(fail);
  }
  map.on("moveend overlayadd", loadAreas);

  // the page's selects redraw at once
  ["level", "measure"].forEach(function (name) {
    var select = document.querySelector("#filters select[name=" + name + "]");
    if (select) { select.addEventListener("change", function () { select.form.submit(); }); }
  });
})();
