// The staff map: areas and buildings as vector tiles, service points and names as JSON for the view, a side
// panel, search, a layer tree and base maps. Every text from the data is set with textContent (never as HTML);
// every text of ours comes from the page (#page-strings), in the page's language.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var cfg = JSON.parse(el.dataset.config);
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  var base = cfg.basemaps.maps.filter(function (b) { return b.name === cfg.basemaps.current; })[0] || cfg.basemaps.maps[0];
  var gcj = !!(base && base.crs === "gcj02");
  // while AMap is shown the map's pixels are GCJ-02 web mercator; every LatLng stays WGS84 (see gcj02.js)
  var map = L.map(el, { crs: gcj ? window.Gcj02.crs(L) : L.CRS.EPSG3857, preferCanvas: true, minZoom: 3, maxZoom: 20 });
  window.staffMap = map;
  var e = cfg.extent;
  var saved = (location.hash.match(/^#(\d+)\/(-?[\d.]+)\/(-?[\d.]+)$/) || []);
  if (saved.length) { map.setView([parseFloat(saved[2]), parseFloat(saved[3])], parseInt(saved[1], 10)); }
  else { map.fitBounds([[e[1], e[0]], [e[3], e[2]]]); }
  L.control.scale({ imperial: false }).addTo(map);
  var query = "?generation=" + cfg.generation;
  var tileQuery = query + (gcj ? "&crs=gcj02" : "");

  // -- base maps: a missing tile is hidden quietly ------------------------------------------------------------
  var baseLayers = [];
  function showBase(entry) {
    baseLayers.forEach(function (l) { map.removeLayer(l); });
    baseLayers = (entry.urls || []).map(function (url) {
      var layer = L.tileLayer(url, {
        subdomains: entry.subdomains || "abc", maxNativeZoom: entry.maxZoom, maxZoom: 20,
        attribution: entry.attribution, errorTileUrl: ""
      });
      layer.on("tileerror", function (ev) { if (ev.tile) { ev.tile.style.visibility = "hidden"; } });
      layer.addTo(map);
      layer.bringToBack();
      return layer;
    });
  }
  if (base) { showBase(base); }
  var baseBox = document.getElementById("basemaps");
  cfg.basemaps.maps.forEach(function (entry) {
    var label = document.createElement("label");
    var input = document.createElement("input");
    input.type = "radio"; input.name = "basemap"; input.value = entry.name; input.checked = entry === base;
    label.appendChild(input);
    label.appendChild(document.createTextNode(" " + (T["basemap_" + entry.name] || entry.name)));
    baseBox.appendChild(label);
    input.addEventListener("change", function () {
      if ((entry.crs === "gcj02") !== gcj) {  // another pixel grid: open the page again on it, at the same place
        var c = map.getCenter();
        var params = new URLSearchParams(location.search);
        params.set("basemap", entry.name);
        location.href = location.pathname + "?" + params.toString() + "#" + map.getZoom() + "/" + c.lat.toFixed(6) + "/" + c.lng.toFixed(6);
        return;
      }
      base = entry;
      showBase(entry);
    });
  });

  // -- areas and buildings as vector tiles -------------------------------------------------------------------------
  var colours = { district: "#1f3a5f", street: "#1f3a5f", community: "#3b6ea5", grid: "#2a9d8f", micro_grid: "#2a9d8f" };
  var weights = { district: 3, street: 3, community: 2, grid: 1.5, micro_grid: 0.8 };
  var palette = ["#8ecae6", "#ffb703", "#b5838d", "#90be6d", "#f28482", "#a2d2ff", "#cdb4db", "#f9c74f", "#84a59d", "#e5989b", "#bde0fe", "#ddbea9"];
  function colourOf(code) {  // a stable colour per micro-grid code
    var h = 0;
    for (var i = 0; i < code.length; i++) { h = (h * 31 + code.charCodeAt(i)) >>> 0; }
    return palette[h % palette.length];
  }
  var layers = {};
  var featureClicked = 0;
  // Buildings (clickable vector tiles) sit above the overlay pane, whose map-wide canvas would otherwise take every
  // click; service points are SVG in a pane above them whose empty area lets clicks through (see the page's CSS).
  map.createPane("buildings").style.zIndex = 450;
  map.createPane("points").style.zIndex = 460;
  var pointsRenderer = L.svg({ pane: "points" });
  function vectorLayer(name, style, minZoom, interactive) {
    var styles = {};
    styles[name] = style;
    var layer = L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", name) + tileQuery, {
      vectorTileLayerStyles: styles, interactive: interactive, maxNativeZoom: 18, minZoom: minZoom,
      pane: interactive ? "buildings" : "tilePane",
      getFeatureId: function (f) { return f.properties.code || f.properties.id; }
    });
    if (interactive) {
      layer.on("click", function (ev) { featureClicked = Date.now(); showAsset(name, ev.layer.properties); });
    }
    return layer;
  }
  cfg.levels.forEach(function (level) {
    var filled = level.name === "micro_grid";
    layers[level.name] = vectorLayer(level.name, {
      color: colours[level.name] || "#2a9d8f", weight: weights[level.name] || 1,
      fill: filled, fillColor: "#2a9d8f", fillOpacity: filled ? 0.04 : 0
    }, level.minZoom, false).addTo(map);
  });
  layers.buildings = vectorLayer("buildings", function (props) {
    var fill = props.area ? colourOf(props.area) : "#bbbbbb";
    return { color: "#666", weight: 0.5, fill: true, fillColor: fill, fillOpacity: 0.75 };
  }, 16, true).addTo(map);

  // -- service points by kind ------------------------------------------------------------------------------------
  var kindColours = { grid_station: "#e76f51", community_centre: "#6a4c93", police: "#1d3557", clinic: "#d62828", hospital: "#9d0208", school: "#f4a261" };
  document.querySelectorAll("#kind-legend [data-kind] .sw").forEach(function (sw) {
    sw.style.background = kindColours[sw.parentNode.dataset.kind] || "#e76f51";
  });
  var points = L.layerGroup().addTo(map);
  layers.service_points = points;
  function bboxOfView() {
    var b = map.getBounds();
    return [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -85), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 85)]
      .map(function (v) { return v.toFixed(6); }).join(",");
  }
  function getJson(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; }, function () { return { ok: false, body: {} }; });
    });
  }
  function loadPoints() {
    if (!map.hasLayer(points) || map.getZoom() < 15) { points.clearLayers(); return; }
    getJson(cfg.layerApi + "?bbox=" + bboxOfView() + "&zoom=" + Math.min(map.getZoom(), 22) + "&generation=" + cfg.generation)
      .then(function (answer) {
        points.clearLayers();
        if (!answer.ok) { return; }
        L.geoJSON(answer.body, {
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, {
              radius: 7, color: "#fff", weight: 1.5, fillColor: kindColours[f.properties.kind] || "#e76f51", fillOpacity: 0.95,
              pane: "points", renderer: pointsRenderer
            });
          },
          onEachFeature: function (f, layer) {
            layer.on("click", function () { featureClicked = Date.now(); showAsset("service_points", f.properties); });
          }
        }).addTo(points);
      });
  }

  // -- names of one level at a time ------------------------------------------------------------------------------
  var labels = L.layerGroup().addTo(map);
  var labelsOn = true;
  function labelLevel() {
    var z = map.getZoom(), chosen = null;
    cfg.levels.forEach(function (level) {
      if (level.labelZoom <= z && map.hasLayer(layers[level.name])) { chosen = level.name; }
    });
    return chosen;
  }
  var labelRequest = 0;
  function loadLabels() {
    var level = labelLevel();
    var mine = ++labelRequest;
    if (!labelsOn || !level) { labels.clearLayers(); return; }
    getJson(cfg.labelsApi + "?level=" + level + "&bbox=" + bboxOfView() + "&generation=" + cfg.generation).then(function (answer) {
      if (mine !== labelRequest) { return; }
      labels.clearLayers();
      if (!answer.ok) { return; }
      var spans = [];
      answer.body.labels.forEach(function (item) {
        var span = document.createElement("span");
        span.textContent = item.name;
        span.title = item.code;
        L.marker([item.lat, item.lon], {
          icon: L.divIcon({ className: "area-label", html: span, iconSize: null }), interactive: false, keyboard: false
        }).addTo(labels);
        spans.push(span);
      });
      declutter(spans);
    });
  }
  // Names that would overlap a name already placed are hidden (the API lists the largest areas first).
  function declutter(spans) {
    var placed = [];
    spans.forEach(function (span) {
      var r = span.getBoundingClientRect();
      var clash = placed.some(function (p) {
        return r.left < p.right + 4 && p.left < r.right + 4 && r.top < p.bottom + 2 && p.top < r.bottom + 2;
      });
      span.style.visibility = clash ? "hidden" : "";
      if (!clash) { placed.push(r); }
    });
  }
  map.on("moveend", function () { loadPoints(); loadLabels(); });
  loadPoints();
  loadLabels();

  // -- the layer tree ------------------------------------------------------------------------------------------------
  document.querySelectorAll("#tree input[name=layer]").forEach(function (box) {
    box.addEventListener("change", function () {
      if (box.value === "labels") { labelsOn = box.checked; loadLabels(); return; }
      var layer = layers[box.value];
      if (!layer) { return; }
      if (box.checked) { layer.addTo(map); } else { map.removeLayer(layer); }
      if (box.value === "service_points") { loadPoints(); }
      loadLabels();
    });
  });

  // -- the side panel ----------------------------------------------------------------------------------------------
  var panel = document.getElementById("panel");
  function line(label, value) {
    var p = document.createElement("p");
    var b = document.createElement("strong");
    b.textContent = label + ": ";
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
    return h;
  }
  function showAsset(layer, props) {
    if (layer === "buildings") {
      fill(props.name || T.building, [[T.address, props.address], [T.floors, props.floors], [T.households, props.households], [T.use, T.uses[props["use"]] || props["use"]]]);
    } else {
      fill(props.name || T.service_point, [[T.kind, T.kinds[props.kind] || props.kind], [T.hours, props.opening_hours], [T.capacity, props.capacity], [T.address, props.address]]);
    }
  }
  var highlight = L.layerGroup().addTo(map);
  function showPanel(p) {
    var h = fill(p.name, [
      [T.level, T.levels_names[p.level] || p.level],
      [T.buildings, p.buildings], [T.households, p.households],
      [T.workers, (p.workers || []).map(function (w) { return w.name + " " + w.phone; }).join("; ")]
    ]);
    h.title = p.code;
    var crumbs = document.createElement("p");
    crumbs.className = "crumbs";
    crumbs.textContent = (p.chain || []).map(function (c) { return c.name; }).concat([p.name]).join(" › ");
    crumbs.title = (p.chain || []).map(function (c) { return c.code; }).concat([p.code]).join(" › ");
    panel.insertBefore(crumbs, h.nextSibling);
    panel.appendChild(line(T.code, p.code));
    if (p.issues) {
      panel.appendChild(line(T.open_issues, p.issues.open));
      panel.appendChild(line(T.overdue, p.issues.overdue));
      panel.appendChild(line(T.on_time, p.issues.on_time_rate === null ? null : (p.issues.on_time_rate * 100).toFixed(1) + "%"));
      var links = document.createElement("p");
      links.className = "links";
      [[p.issues.issues_url, T.issue_queue], [p.issues.stats_url, T.statistics]].forEach(function (pair) {
        if (!pair[0]) { return; }
        var a = document.createElement("a");
        a.href = pair[0]; a.textContent = pair[1];
        links.appendChild(a);
      });
      panel.appendChild(links);
    }
    highlight.clearLayers();
    var b = p.bbox;
    L.rectangle([[b[1], b[0]], [b[3], b[2]]], { color: "#e63946", weight: 2, fill: false, interactive: false }).addTo(highlight);
  }
  function loadPanel(params, zoomTo) {
    panel.textContent = T.loading;
    return getJson(cfg.panelApi + "?" + params + "&generation=" + cfg.generation).then(function (answer) {
      if (!answer.ok || !answer.body.code) {
        panel.textContent = "";
        var p = document.createElement("p");
        p.textContent = T.not_found;
        panel.appendChild(p);
        return null;
      }
      showPanel(answer.body);
      if (zoomTo) { var b = answer.body.bbox; map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); }
      return answer.body;
    }, function () { panel.textContent = T.failed; });
  }
  function clickLevel() {  // the lowest level drawn at this zoom
    var z = map.getZoom(), chosen = null;
    cfg.levels.forEach(function (level) { if (level.minZoom <= z && map.hasLayer(layers[level.name])) { chosen = level.name; } });
    return chosen;
  }
  map.on("click", function (ev) {
    setTimeout(function () {
      if (Date.now() - featureClicked < 300) { return; }
      var level = clickLevel();
      if (!level) { return; }
      // ev.latlng is WGS84 on either grid (gcj02.js turns AMap's pixels back)
      loadPanel("lon=" + ev.latlng.lng.toFixed(7) + "&lat=" + ev.latlng.lat.toFixed(7) + "&level=" + level, false);
    }, 0);
  });

  // -- search ------------------------------------------------------------------------------------------------------
  // The API's messages are "中文 English"; a page shows the half in its own language (as web/i18n.py in_language).
  var CJK = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef\u201c\u201d\u2018\u2019]/g;
  function oneLanguage(message) {
    var text = String(message || ""), last = -1, m;
    CJK.lastIndex = 0;
    while ((m = CJK.exec(text)) !== null) { last = m.index; }
    if (last < 0) { return text; }
    var chinese = text.slice(0, last + 1).trim(), english = text.slice(last + 1).replace(/^[\s:：;；,，]+/, "").trim();
    if (!/[A-Za-z]{2,}[\s\S]*\s[\s\S]*[A-Za-z]{2,}/.test(english) || !/[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/.test(chinese.charAt(0))) { return text; }
    return document.documentElement.lang.indexOf("zh") === 0 ? chinese : english;
  }
  var status = document.getElementById("search-status");
  var results = document.getElementById("results");
  var found = L.layerGroup().addTo(map);
  function go(result) {
    found.clearLayers();
    if (result.kind === "area") { loadPanel("code=" + encodeURIComponent(result.code), true); return; }
    var marker = L.marker([result.lat, result.lon], { keyboard: false, interactive: false });
    marker.addTo(found);
    map.setView([result.lat, result.lon], Math.max(map.getZoom(), 17));
    if (result.kind === "building") {
      fill(result.name || T.building, [[T.address, result.address]]);
    } else if (result.code) {
      loadPanel("code=" + encodeURIComponent(result.code), false);
    } else {
      fill(T.place, [[T.lonlat, result.lon.toFixed(6) + ", " + result.lat.toFixed(6)]]);
    }
  }
  document.getElementById("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = ev.target;
    var q = form.q.value.trim(), crs = form.crs.value;
    status.textContent = "";
    results.textContent = "";
    if (!q) { status.textContent = T.search_empty; return; }
    var m = q.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/);
    if (m && crs.indexOf("EPSG:45") !== 0 && Math.abs(parseFloat(m[2])) > 90 && Math.abs(parseFloat(m[1])) <= 90) {
      status.textContent = T.swapped;
      return;
    }
    status.textContent = T.searching;
    getJson(cfg.searchApi + "?q=" + encodeURIComponent(q) + "&crs=" + encodeURIComponent(crs) + "&generation=" + cfg.generation)
      .then(function (answer) {
        status.textContent = "";
        if (!answer.ok || answer.body.problem) {
          var why = answer.body && (answer.body.problem || (answer.body.error && answer.body.error.message));
          status.textContent = why ? oneLanguage(why) : T.not_found;
          return;
        }
        var list = answer.body.results;
        if (!list.length) { status.textContent = T.not_found; return; }
        if (list.length > 1) {
          list.forEach(function (r) {
            var li = document.createElement("li");
            var button = document.createElement("button");
            button.type = "button";
            button.textContent = (r.kind === "area" ? (T.levels_names[r.level] || r.level) + " · " : "") + (r.name || r.address || "");
            if (r.code) { button.title = r.code; }
            button.addEventListener("click", function () { go(r); });
            li.appendChild(button);
            results.appendChild(li);
          });
        }
        go(list[0]);
      });
  });

  // -- generation: any published one, read-only ----------------------------------------------------------------------
  var generation = document.getElementById("generation");
  if (generation) { generation.addEventListener("change", function () { generation.form.submit(); }); }
})();
