// The patrol recorder, loaded on every app page: while a patrol runs (its id in localStorage, its record with the
// fixes in IndexedDB) every page follows the geolocation, keeps each fix (time, lon, lat, accuracy) with the patrol
// and queues them in batches (every 30 s or 50 fixes) through the outbox; a banner says a patrol is running.
// The record is written by a read-modify-write in one transaction that keeps what the outbox stored there (the
// server's id, the summary), so the page's copy never overwrites the start's answer.
(function () {
  "use strict";
  var A = window.WeigeApp;
  var BATCH = 50, EVERY_MS = 30000;
  var SERVER_KEYS = ["server_id", "summary", "ended_on_server"];
  var patrol = null, watch = null, ticker = null, lastBatch = Date.now(), saving = Promise.resolve();

  function key(name) { return "weige.patrol." + name + "." + (A.user() || ""); }

  function emit(type) { window.dispatchEvent(new CustomEvent(type, { detail: { patrol: patrol } })); }

  function save() {
    var mine = patrol;
    saving = saving.then(function () {
      return A.data.update("patrols", mine.client_id, function (stored) {
        var value = Object.assign({}, mine);
        SERVER_KEYS.forEach(function (k) {
          if (stored && stored[k] !== null && stored[k] !== undefined) { value[k] = stored[k]; mine[k] = stored[k]; }
        });
        return value;
      });
    });
    return saving;
  }

  function batch(force) {  // the fixes not yet queued go to the outbox as one item
    if (!patrol || !patrol.pending.length) { return Promise.resolve(); }
    if (!force && patrol.pending.length < BATCH && Date.now() - lastBatch < EVERY_MS) { return Promise.resolve(); }
    var positions = patrol.pending, id = patrol.client_id;
    patrol.pending = [];
    lastBatch = Date.now();
    return save().then(function () { return A.outbox.add("positions", { patrol: id, positions: positions }); });
  }

  function onFix(pos) {
    if (!patrol || patrol.ended_ms) { return; }
    var c = pos.coords, t = Math.max(pos.timestamp || Date.now(), (patrol.last_t || 0) + 1);  // one fix per instant
    patrol.last_t = t;
    var fix = { t: A.isoNow(t), lon: +c.longitude.toFixed(7), lat: +c.latitude.toFixed(7), accuracy: Math.round(c.accuracy * 10) / 10 };
    patrol.fixes.push(fix);
    patrol.pending.push(fix);
    emit("weige:fix");
    save().then(function () { return batch(false); });
  }

  function banner(running) {
    var node = document.getElementById("patrol-banner");
    if (node) { node.hidden = !running; }
  }

  function follow() {
    if (watch !== null) { return; }
    if (navigator.geolocation) {
      watch = navigator.geolocation.watchPosition(onFix, function () { emit("weige:geo-denied"); },
        { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
    } else { emit("weige:geo-denied"); }
    ticker = setInterval(function () { emit("weige:tick"); batch(false); }, 1000);
    banner(true);
  }
  function unfollow() {
    if (watch !== null) { navigator.geolocation.clearWatch(watch); watch = null; }
    clearInterval(ticker);
    banner(false);
  }

  var recorder = {
    current: function () { return patrol; },
    running: function () { return !!(patrol && !patrol.ended_ms); },
    start: function () {
      var now = Date.now();
      patrol = { client_id: A.uuid(), started_ms: now, started_at: A.isoNow(now), fixes: [], pending: [], server_id: null, summary: null };
      localStorage.setItem(key("current"), patrol.client_id);
      lastBatch = now;
      save().then(function () { return A.outbox.add("patrol_start", { client_id: patrol.client_id, started_at: patrol.started_at }); });
      follow();
      return patrol;
    },
    stop: function () {
      if (!patrol) { return Promise.resolve(); }
      unfollow();
      var ending = patrol;
      ending.ended_ms = Date.now();
      ending.ended_at = A.isoNow(ending.ended_ms);
      localStorage.removeItem(key("current"));
      localStorage.setItem(key("last"), ending.client_id);
      return batch(true).then(save).then(function () {
        return A.outbox.add("patrol_end", { patrol: ending.client_id, ended_at: ending.ended_at });
      });
    },
    // a page picks up the running patrol, or the last one (with its summary)
    load: function () {
      return A.whoami().then(function () {
        var running = localStorage.getItem(key("current")), last = localStorage.getItem(key("last"));
        if (!running && !last) { return null; }
        return A.data.get("patrols", running || last).then(function (p) {
          if (!p) { return null; }
          patrol = p;
          if (running && !p.ended_ms) { follow(); }
          return patrol;
        });
      });
    },
    // signing out (or another worker signing in): every patrol still running on this phone ends, its last fixes
    // and its end queued under the worker who recorded it, and the phone forgets the patrol state
    forget: function () {
      unfollow();
      var prefix = "weige.patrol.current.";
      var running = Object.keys(localStorage).filter(function (k) { return k.indexOf(prefix) === 0; });
      var chain = saving.then(function () { return null; }, function () { return null; });
      running.forEach(function (k) {
        var who = k.slice(prefix.length), id = localStorage.getItem(k);
        chain = chain.then(function () { return A.data.get("patrols", id); }).then(function (p) {
          if (!p || p.ended_ms || !who) { return null; }
          var pending = p.pending || [];
          p.pending = [];
          p.ended_ms = Date.now();
          p.ended_at = A.isoNow(p.ended_ms);
          return A.data.update("patrols", p.client_id, function (stored) {
            return Object.assign({}, p, { server_id: (stored && stored.server_id) || p.server_id || null });
          }).then(function () {
            return pending.length ? A.outbox.add("positions", { patrol: p.client_id, positions: pending }, { user: who }) : null;
          }).then(function () { return A.outbox.add("patrol_end", { patrol: p.client_id, ended_at: p.ended_at }, { user: who }); });
        });
      });
      return chain.then(function () {
        Object.keys(localStorage).filter(function (k) { return k.indexOf("weige.patrol.") === 0; })
          .forEach(function (k) { localStorage.removeItem(k); });
        patrol = null;
      });
    }
  };
  A.recorder = recorder;
  A.patrolFixes = function () { return patrol ? patrol.fixes.length : 0; };
  window.addEventListener("weige:sent", function (ev) {
    var item = ev.detail.item;
    if (!patrol) { return; }
    if (item.kind === "patrol_start" && item.body.client_id === patrol.client_id) { patrol.server_id = ev.detail.body.id; }
    if (item.kind === "patrol_end" && item.body.patrol === patrol.client_id) {
      patrol.summary = ev.detail.body.summary || null;
      patrol.ended_on_server = true;
    }
  });
  A.ready = recorder.load();
})();
