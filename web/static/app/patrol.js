// Patrol: start and stop; while it runs every geolocation fix (time, lon, lat, accuracy) is kept in IndexedDB
// with the patrol and sent in batches (every 30 s or 50 fixes) through the outbox to the patrol API; the screen
// shows the track, the time and the distance; a stopped patrol shows the server's summary. A GPX file from a
// separate GPS device is uploaded to POST /api/v1/patrols/gpx.
(function () {
  "use strict";
  var A = window.WeigeApp, cfg = A.cfg, T = A.T, el = A.el;
  var startBtn = document.getElementById("start"), stopBtn = document.getElementById("stop");
  if (!startBtn) { return; }  // the role does not record patrols: no buttons
  var status = document.getElementById("p-status");
  var map = L.map(document.getElementById("map"), { preferCanvas: true, minZoom: 10, maxZoom: 20, attributionControl: false });
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", "micro_grid"), {
    vectorTileLayerStyles: { micro_grid: { color: "#2a9d8f", weight: 1, fill: true, fillColor: "#2a9d8f", fillOpacity: 0.05 } },
    maxNativeZoom: 18, interactive: false
  }).addTo(map);
  var line = L.polyline([], { color: "#1f78d1", weight: 4 }).addTo(map);
  var recorder = A.recorder, patrol = null;

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
    patrol = recorder.current();
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

  startBtn.addEventListener("click", function () {
    patrol = recorder.start();
    document.getElementById("summary").hidden = true;
    buttons(true);
    draw();
  });
  stopBtn.addEventListener("click", function () {
    recorder.stop();
    buttons(false);
    draw();
    showSummary();
  });
  window.addEventListener("weige:fix", function (ev) {
    draw();
    if (ev.detail.patrol.fixes.length === 1) { var f = ev.detail.patrol.fixes[0]; map.setView([f.lat, f.lon], 17); }
  });
  window.addEventListener("weige:tick", draw);
  window.addEventListener("weige:geo-denied", function () { status.textContent = T.geo_denied; });

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
    patrol = recorder.current();
    if (!patrol || ev.detail.item.kind !== "patrol_end" || ev.detail.item.body.patrol !== patrol.client_id) { return; }
    patrol.summary = ev.detail.body.summary || null;
    showSummary();
  });

  // a reload (or another page) while a patrol runs picks it up again; otherwise the last patrol and its summary
  A.ready.then(function (p) {
    if (!p) { return; }
    patrol = p;
    if (recorder.running()) { buttons(true); } else { buttons(false); showSummary(); }
    draw();
    if (p.fixes.length) { map.fitBounds(line.getBounds(), { maxZoom: 18 }); }
  });

  // -- GPX upload (online only) --------------------------------------------------------------------------------
  // a UUID made of the file's SHA-256 (SubtleCrypto; plain-HTTP intranets have none: a random one there)
  function fileId(file) {
    if (!(window.crypto && crypto.subtle && file.arrayBuffer)) { return Promise.resolve(A.uuid()); }
    return file.arrayBuffer().then(function (buffer) { return crypto.subtle.digest("SHA-256", buffer); }).then(function (digest) {
      var b = new Uint8Array(digest).slice(0, 16);
      b[6] = (b[6] & 0x0f) | 0x50; b[8] = (b[8] & 0x3f) | 0x80;  // shaped as a name-based UUID
      var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
      return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
    });
  }
  var gpx = document.getElementById("gpx"), gpxStatus = document.getElementById("gpx-status");
  gpx.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("gpx-file").files[0];
    if (!file) { gpxStatus.textContent = T.choose_file; return; }
    if (!navigator.onLine) { gpxStatus.textContent = T.needs_online; return; }
    gpxStatus.textContent = T.sending;
    Promise.all([fetch(cfg.session, { credentials: "same-origin", cache: "no-store" }).then(function (r) { return r.json(); }), fileId(file)]).then(function (got) {
      var s = got[0], body = new FormData();
      body.append("file", file, file.name);
      body.append("client_id", got[1]);  // the file's hash: the same file uploaded again is the same patrol
      return fetch(cfg.patrols + "/gpx", { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": s.csrf_token }, body: body });
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) { gpxStatus.className = "error"; gpxStatus.textContent = T.failed + ": " + A.oneLanguage((b.error && b.error.message) || r.status); return; }
        var n = Array.isArray(b.patrols) ? b.patrols.length : (Array.isArray(b) ? b.length : 1);
        gpxStatus.className = "ok"; gpxStatus.textContent = A.fmt(T.gpx_done, { n: n });
      });
    }).catch(function () { gpxStatus.className = "error"; gpxStatus.textContent = T.needs_online; });
  });
})();
