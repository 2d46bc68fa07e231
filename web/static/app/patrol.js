// Patrol: start and stop; while it runs every geolocation fix (time, lon, lat, accuracy) is kept in IndexedDB
// with the patrol and sent in batches (every 30 s or 50 fixes) through the outbox to the patrol API; the screen
// shows the track, the time and the distance; a stopped patrol shows the server's summary. A GPX file from a
// separate GPS device is uploaded to POST /api/v1/patrols/gpx.
(function () {
  "use strict";
  var A = window.WeigeApp, cfg = A.cfg, T = A.T, el = A.el;
  var BATCH = 50, EVERY_MS = 30000, CURRENT = "weige.patrol.current", LAST = "weige.patrol.last";
  var startBtn = document.getElementById("start"), stopBtn = document.getElementById("stop");
  var status = document.getElementById("p-status");
  var map = L.map(document.getElementById("map"), { preferCanvas: true, minZoom: 10, maxZoom: 20, attributionControl: false });
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", "micro_grid"), {
    vectorTileLayerStyles: { micro_grid: { color: "#2a9d8f", weight: 1, fill: true, fillColor: "#2a9d8f", fillOpacity: 0.05 } },
    maxNativeZoom: 18, interactive: false
  }).addTo(map);
  var line = L.polyline([], { color: "#1f78d1", weight: 4 }).addTo(map);
  var patrol = null, watch = null, ticker = null, lastBatch = Date.now(), saving = Promise.resolve();

  function distance(fixes) {
    var d = 0;
    for (var i = 1; i < fixes.length; i++) { d += A.metres([fixes[i - 1].lon, fixes[i - 1].lat], [fixes[i].lon, fixes[i].lat]); }
    return d;
  }
  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }
  function draw() {
    if (!patrol) { return; }
    var end = patrol.ended_ms || Date.now();
    document.getElementById("p-time").textContent = clock(end - patrol.started_ms);
    document.getElementById("p-distance").textContent = A.distanceText(distance(patrol.fixes));
    document.getElementById("p-fixes").textContent = String(patrol.fixes.length);
    line.setLatLngs(patrol.fixes.map(function (f) { return [f.lat, f.lon]; }));
  }
  function buttons(running) {
    startBtn.hidden = running; stopBtn.hidden = !running;
    status.textContent = running ? T.running : (patrol ? T.stopped : "");
  }
  function save() { saving = saving.then(function () { return A.data.put("patrols", patrol); }); return saving; }

  function batch(force) {  // the fixes not yet queued go to the outbox as one item
    if (!patrol || !patrol.pending.length) { return Promise.resolve(); }
    if (!force && patrol.pending.length < BATCH && Date.now() - lastBatch < EVERY_MS) { return Promise.resolve(); }
    var positions = patrol.pending;
    patrol.pending = [];
    lastBatch = Date.now();
    return save().then(function () { return A.outbox.add("positions", { patrol: patrol.client_id, positions: positions }); });
  }

  function onFix(pos) {
    if (!patrol || patrol.ended_ms) { return; }
    var c = pos.coords, t = Math.max(pos.timestamp || Date.now(), (patrol.last_t || 0) + 1);  // one fix per instant
    patrol.last_t = t;
    var fix = { t: A.isoNow(t), lon: +c.longitude.toFixed(7), lat: +c.latitude.toFixed(7), accuracy: Math.round(c.accuracy * 10) / 10 };
    patrol.fixes.push(fix);
    patrol.pending.push(fix);
    draw();
    if (patrol.fixes.length === 1) { map.setView([fix.lat, fix.lon], 17); }
    save().then(function () { return batch(false); });
  }
  function follow() {
    if (navigator.geolocation) {
      watch = navigator.geolocation.watchPosition(onFix, function () { status.textContent = T.geo_denied; },
        { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
    } else { status.textContent = T.geo_denied; }
    ticker = setInterval(function () { draw(); batch(false); }, 1000);
  }

  startBtn.addEventListener("click", function () {
    var now = Date.now();
    patrol = { client_id: A.uuid(), started_ms: now, started_at: A.isoNow(now), fixes: [], pending: [], server_id: null, summary: null };
    localStorage.setItem(CURRENT, patrol.client_id);
    document.getElementById("summary").hidden = true;
    lastBatch = now;
    save().then(function () { return A.outbox.add("patrol_start", { client_id: patrol.client_id, started_at: patrol.started_at }); });
    buttons(true);
    follow();
    draw();
  });

  stopBtn.addEventListener("click", function () {
    if (watch !== null) { navigator.geolocation.clearWatch(watch); watch = null; }
    clearInterval(ticker);
    patrol.ended_ms = Date.now();
    patrol.ended_at = A.isoNow(patrol.ended_ms);
    localStorage.removeItem(CURRENT);
    localStorage.setItem(LAST, patrol.client_id);
    batch(true).then(save).then(function () {
      return A.outbox.add("patrol_end", { patrol: patrol.client_id, ended_at: patrol.ended_at });
    });
    buttons(false);
    draw();
    showSummary();
  });

  function showSummary() {
    var box = document.getElementById("summary"), facts = document.getElementById("summary-facts");
    box.hidden = false;
    facts.textContent = "";
    var s = patrol && patrol.summary;
    function fact(label, value) { facts.appendChild(el("dt", { text: label })); facts.appendChild(el("dd", { text: String(value) })); }
    if (!s) { fact(T.stopped, T.summary_wait); return; }
    var dm = s.distance_m || {}, ts = s.time_s || {};
    fact(T.fixes, (s.kept || 0) + " / " + (s.fixes || 0));
    fact(T.inside, A.distanceText(dm.inside || 0) + " · " + clock((ts.inside || 0) * 1000));
    fact(T.outside, A.distanceText(dm.outside || 0) + " · " + clock((ts.outside || 0) * 1000));
    fact(T.micro_grids, (s.micro_grids || []).length);
    fact(T.buildings_passed, (s.buildings_passed || []).length);
    fact(T.alerts, (s.alerts || []).length);
  }
  window.addEventListener("weige:sent", function (ev) {
    if (!patrol || ev.detail.item.kind !== "patrol_end" || ev.detail.item.body.patrol !== patrol.client_id) { return; }
    patrol.summary = ev.detail.body.summary || null;
    showSummary();
  });

  // a reload while a patrol runs picks it up again; otherwise the last patrol and its summary are shown
  var running = localStorage.getItem(CURRENT), last = localStorage.getItem(LAST);
  if (running || last) {
    A.data.get("patrols", running || last).then(function (p) {
      if (!p) { return; }
      patrol = p;
      if (running) { buttons(true); follow(); } else { buttons(false); showSummary(); }
      draw();
      if (p.fixes.length) { map.fitBounds(line.getBounds(), { maxZoom: 18 }); }
    });
  }

  // -- GPX upload (online only) --------------------------------------------------------------------------------
  var gpx = document.getElementById("gpx"), gpxStatus = document.getElementById("gpx-status");
  gpx.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("gpx-file").files[0];
    if (!file) { gpxStatus.textContent = T.choose_file; return; }
    if (!navigator.onLine) { gpxStatus.textContent = T.needs_online; return; }
    gpxStatus.textContent = T.sending;
    fetch(cfg.session, { credentials: "same-origin", cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      var body = new FormData();
      body.append("file", file, file.name);
      body.append("client_id", A.uuid());
      return fetch(cfg.patrols + "/gpx", { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": s.csrf_token }, body: body });
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) { gpxStatus.className = "error"; gpxStatus.textContent = T.failed + ": " + ((b.error && b.error.message) || r.status); return; }
        var n = Array.isArray(b.patrols) ? b.patrols.length : (Array.isArray(b) ? b.length : 1);
        gpxStatus.className = "ok"; gpxStatus.textContent = A.fmt(T.gpx_done, { n: n });
      });
    }).catch(function () { gpxStatus.className = "error"; gpxStatus.textContent = T.needs_online; });
  });
})();
