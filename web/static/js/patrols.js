// The patrol compliance page: a bar chart drawn from the workers' table, and a map of the period's tracks
// (area outlines from the vector tiles, each patrol a line in its worker's colour, out-of-area alerts as markers).
// Every text of ours comes from the page (#page-strings); every text from the data is set with textContent.
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return String(values[key]); });
  }
  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (cls) { node.className = cls; }
    return node;
  }

  // -- the chart: share of micro-grids patrolled and households visited per worker ---------------------------------
  var chart = JSON.parse(document.getElementById("chart-data").textContent);
  var box = document.querySelector('[data-chart="workers"]');
  if (box && chart.labels.length && window.Chart) {
    Chart.defaults.animation = false;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.maintainAspectRatio = false;
    box.style.height = Math.max(200, chart.labels.length * 44 + 80) + "px";
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", box.parentNode.querySelector("h3").textContent);
    box.appendChild(canvas);
    var colours = ["#2a9d8f", "#3b6ea5"];
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: chart.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: colours[i % 2], borderColor: colours[i % 2] };
        })
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, max: 100, title: { display: true, text: T.share } } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
      }
    });
  }

  // -- the map ---------------------------------------------------------------------------------------------------
  var el = document.getElementById("patrol-map");
  if (!el || !window.L) { return; }
  var cfg = JSON.parse(el.dataset.config);
  var status = document.getElementById("map-status");
  var map = L.map(el, { minZoom: 3, maxZoom: 19 });
  window.patrolMap = map;
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.control.scale({ imperial: false }).addTo(map);

  var outline = { district: "#1f3a5f", street: "#1f3a5f", community: "#3b6ea5", grid: "#2a9d8f", micro_grid: "#8aa9a3" };
  var weight = { district: 2.5, street: 2.5, community: 2, grid: 1.2, micro_grid: 0.6 };
  cfg.levels.forEach(function (level) {
    var styles = {};
    styles[level.name] = { color: outline[level.name] || "#2a9d8f", weight: weight[level.name] || 1, fill: false };
    L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", level.name) + "?generation=" + cfg.generation, {
      vectorTileLayerStyles: styles, interactive: false, maxNativeZoom: 18, minZoom: level.minZoom
    }).addTo(map);
  });

  function popup(lines) {
    var node = document.createElement("div");
    node.className = "track-tip";
    lines.forEach(function (line, i) { node.appendChild(text(i === 0 ? "strong" : "div", line)); });
    return node;
  }
  var tracks = {};  // patrol id -> its layer group
  var alertIcon = L.divIcon({ className: "alert-icon", html: "!", iconSize: [18, 18] });  // our constant, not data
  function draw(patrol) {
    var group = L.featureGroup();
    var lines = [patrol.worker_name, fmt(T.started, { time: patrol.started }),
      patrol.ended ? fmt(T.ended, { time: patrol.ended }) : T.running];
    patrol.track.features.forEach(function (f) {
      var c = f.geometry.coordinates;
      var layer = f.geometry.type === "Point"
        ? L.circleMarker([c[1], c[0]], { radius: 4, color: patrol.colour, weight: 2 })
        : L.polyline(c.map(function (p) { return [p[1], p[0]]; }), { color: patrol.colour, weight: 3, opacity: 0.85 });
      layer.bindPopup(function () { return popup(lines); });
      group.addLayer(layer);
    });
    patrol.alerts.forEach(function (a) {
      var marker = L.marker([a.lat, a.lon], { icon: alertIcon, keyboard: false, title: T.alert });
      marker.bindPopup(function () {
        return popup([T.alert, patrol.worker_name, fmt(T.outside, { time: a.at, n: a.minutes })]);
      });
      group.addLayer(marker);
    });
    group.addTo(map);
    tracks[patrol.id] = group;
    return group;
  }

  function choose(id) {
    var group = tracks[id];
    document.querySelectorAll("#table-patrols tr.chosen").forEach(function (tr) { tr.classList.remove("chosen"); });
    var row = document.querySelector('#table-patrols tr[data-patrol="' + id + '"]');
    if (row) { row.classList.add("chosen"); }
    if (!group || !group.getLayers().length) { status.textContent = T.noTrack; return; }
    map.fitBounds(group.getBounds(), { padding: [20, 20], maxZoom: 17 });
    var first = group.getLayers()[0];
    el.scrollIntoView({ block: "nearest" });
    first.openPopup(first.getLatLng ? first.getLatLng() : first.getCenter());
  }
  document.querySelectorAll("button.show-track").forEach(function (button) {
    button.addEventListener("click", function () { choose(button.dataset.patrol); });
  });

  status.textContent = T.loading;
  fetch(cfg.tracksApi, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (data) {
      var all = L.featureGroup();
      data.patrols.forEach(function (p) { all.addLayer(draw(p)); });
      if (!data.patrols.length) { status.textContent = T.none; return; }
      var total = data.total + (data.at_least ? "+" : "");
      status.textContent = data.total > data.patrols.length
        ? fmt(T.capped, { n: data.patrols.length, total: total })
        : fmt(T.drawn, { n: data.patrols.length });
      if (all.getBounds().isValid()) { map.fitBounds(all.getBounds(), { padding: [20, 20], maxZoom: 17 }); }
      el.dataset.drawn = String(data.patrols.length);
    })
    .catch(function () { status.textContent = T.loadFailed; });
}());
