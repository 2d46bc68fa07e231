// The staff map: areas and buildings as vector tiles, service points as GeoJSON for the view, a side panel.
// Every text from the data is set with textContent (never as HTML).
(function () {
  "use strict";
  var el = document.getElementById("map");
  var cfg = JSON.parse(el.dataset.config);
  var e = cfg.extent;
  var map = L.map(el, { preferCanvas: true, minZoom: 3, maxZoom: 20 });
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.control.scale({ imperial: false }).addTo(map);

  var colours = { district: "#1f3a5f", street: "#1f3a5f", community: "#3b6ea5", grid: "#2a9d8f", micro_grid: "#2a9d8f" };
  var weights = { district: 3, street: 3, community: 2, grid: 1.5, micro_grid: 0.8 };
  var overlays = {};
  var generation = "?generation=" + cfg.generation;

  function tileUrl(layer) {
    return cfg.tiles.replace("{layer}", layer) + generation;
  }

  function vectorLayer(name, style, minZoom) {
    var styles = {};
    styles[name] = style;
    var layer = L.vectorGrid.protobuf(tileUrl(name), {
      vectorTileLayerStyles: styles,
      interactive: true,
      maxNativeZoom: 18,
      minZoom: minZoom,
      getFeatureId: function (f) { return f.properties.code || f.properties.id; }
    });
    layer.on("click", function (ev) { showFeature(name, ev.layer.properties); });
    return layer;
  }

  cfg.levels.forEach(function (level) {
    var filled = level.name === "micro_grid";
    var layer = vectorLayer(level.name, {
      color: colours[level.name] || "#2a9d8f",
      weight: weights[level.name] || 1,
      fill: filled,
      fillColor: "#2a9d8f",
      fillOpacity: filled ? 0.06 : 0
    }, level.minZoom);
    overlays[level.label] = layer;
    layer.addTo(map);
  });
  var buildings = vectorLayer("buildings", { color: "#888", weight: 0.5, fill: true, fillColor: "#bbb", fillOpacity: 0.6 }, 16);
  overlays["建筑"] = buildings;
  buildings.addTo(map);

  var points = L.layerGroup().addTo(map);
  overlays["服务点"] = points;
  function loadPoints() {
    if (!map.hasLayer(points) || map.getZoom() < 15) { points.clearLayers(); return; }
    var b = map.getBounds();
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); });
    fetch(cfg.layerApi + "?bbox=" + bbox.join(",") + "&zoom=" + Math.min(map.getZoom(), 22) + "&generation=" + cfg.generation,
      { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { features: [] }; })
      .then(function (data) {
        points.clearLayers();
        L.geoJSON(data, {
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, { radius: 5, color: "#e76f51", weight: 2, fillOpacity: 0.8 });
          },
          onEachFeature: function (f, layer) {
            layer.on("click", function () { showFeature("service_points", f.properties); });
          }
        }).addTo(points);
      });
  }
  map.on("moveend overlayadd", loadPoints);
  L.control.layers(null, overlays, { collapsed: window.innerWidth < 640 }).addTo(map);

  var panel = document.getElementById("panel");
  function line(label, value) {
    var p = document.createElement("p");
    var b = document.createElement("strong");
    b.textContent = label + "：";
    p.appendChild(b);
    p.appendChild(document.createTextNode(value === null || value === undefined || value === "" ? "—" : String(value)));
    return p;
  }
  function fill(title, lines) {
    panel.textContent = "";
    var h = document.createElement("h3");
    h.textContent = title;
    panel.appendChild(h);
    lines.forEach(function (l) { panel.appendChild(line(l[0], l[1])); });
  }
  function showFeature(layer, props) {
    if (props.code) { showArea(props.code); return; }
    if (layer === "buildings") {
      fill(props.name || "建筑", [["地址", props.address], ["层数", props.floors], ["户数", props.households], ["用途", props["use"]]]);
    } else {
      fill(props.name || "服务点", [["类型", props.kind], ["开放时间", props.opening_hours], ["容量", props.capacity], ["地址", props.address]]);
    }
  }
  function showArea(code, zoomTo) {
    return fetch(cfg.areaApi.replace("{code}", encodeURIComponent(code)) + generation, { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (answer) {
        if (!answer.ok) { throw new Error(answer.body.error ? answer.body.error.message : "未找到"); }
        var p = answer.body.properties;
        var levelName = (cfg.levels.filter(function (l) { return l.name === p.level; })[0] || {}).label || p.level;
        var chain = (p.chain || []).slice(1).map(function (c) { return c.name; }).join(" › ");
        var workers = (p.workers || []).map(function (w) { return w.name + " " + w.phone; }).join("；");
        fill(p.name, [["层级", levelName], ["编码", p.code], ["上级", chain], ["建筑", p.buildings], ["户数", p.households], ["网格员", workers]]);
        if (zoomTo) { map.fitBounds(L.geoJSON(answer.body).getBounds()); }
        return p;
      });
  }

  var status = document.getElementById("search-status");
  document.getElementById("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = ev.target.q.value.trim();
    status.textContent = "";
    var m = q.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，]\s*(-?\d+(?:\.\d+)?)\s*$/);
    if (m) {
      var lon = parseFloat(m[1]), lat = parseFloat(m[2]);
      if (Math.abs(lat) > 90 && Math.abs(lon) <= 90) { status.textContent = "经纬度似乎颠倒：请按 经度,纬度 输入"; return; }
      map.setView([lat, lon], Math.max(map.getZoom(), 16));
      return;
    }
    if (!q) { return; }
    showArea(q, true).catch(function (err) { status.textContent = err.message; });
  });
})();
