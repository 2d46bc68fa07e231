// The editor's outbox (离线待保存): vertex edits made while the server cannot be reached wait here, in localStorage
// per planner and area, and are saved in order when it can be. Each change carries the version its area was drawn on
// and, when the drawing already held an earlier waiting edit of that area, that edit's id ("after"): its version is
// then the one that edit's save produced. A drawing that did not hold it (another tab) keeps its own version and is
// refused (412) like any stale save, never saved over the other. Also registers the editor's service worker.
(function () {
  "use strict";
  function validGeometry(g) {
    return g && (g.type === "Polygon" || g.type === "MultiPolygon") && Array.isArray(g.coordinates) &&
      JSON.stringify(g.coordinates).length < 5e6;
  }
  function validItem(item) {
    return item && typeof item.id === "string" && Array.isArray(item.changes) && item.changes.length > 0 &&
      item.changes.every(function (c) {
        return c && typeof c.code === "string" && c.code.length < 64 && validGeometry(c.geometry) &&
          (c.after === null || typeof c.after === "string");
      });
  }
  function Outbox(key) { this.key = key; this.dropped = 0; }
  Outbox.prototype.read = function () {
    var box = null;
    try { box = JSON.parse(window.localStorage.getItem(this.key) || "null"); } catch (e) { box = null; }
    if (!box || typeof box !== "object") { box = {}; }
    var items = Array.isArray(box.items) ? box.items : [];
    var valid = items.filter(validItem);
    this.dropped += items.length - valid.length;  // unreadable items are dropped (and the page says so)
    return { items: valid, done: box.done && typeof box.done === "object" ? box.done : {} };
  };
  Outbox.prototype.write = function (box) {
    try {
      if (!box.items.length) { window.localStorage.removeItem(this.key); } else { window.localStorage.setItem(this.key, JSON.stringify(box)); }
      return true;
    } catch (e) { return false; }  // storage full: the caller says so and keeps nothing it cannot store
  };
  Outbox.prototype.size = function () { return this.read().items.length; };
  Outbox.prototype.items = function () { return this.read().items; };
  // changes: [{code, geometry, version, after}]; the new item's id, or null if it could not be stored
  Outbox.prototype.add = function (changes) {
    var box = this.read(), id = Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    box.items.push({ id: id, changes: changes, at: new Date().toISOString() });
    return this.write(box) ? id : null;
  };
  Outbox.prototype.clear = function () { window.localStorage.removeItem(this.key); };
  Outbox.prototype.skip = function () { var box = this.read(); box.items.shift(); this.write(box); };
  // the first item and the versions to send: after an earlier item whose save is known, the version it produced
  Outbox.prototype.next = function () {
    var box = this.read();
    if (!box.items.length) { return null; }
    var item = box.items[0];
    return { id: item.id, changes: item.changes.map(function (c) {
      var saved = c.after && box.done[c.after];
      var version = saved && saved[c.code] !== undefined ? saved[c.code] : c.version;
      return { code: c.code, geometry: c.geometry, version: version };
    }) };
  };
  // the first item was saved: areas → their new versions
  Outbox.prototype.done = function (id, areas) {
    var box = this.read();
    if (!box.items.length || box.items[0].id !== id) { return; }  // another tab saved it meanwhile
    box.items.shift();
    var versions = {};
    (areas || []).forEach(function (a) { versions[a.code] = a.version; });
    box.done[id] = versions;
    if (!box.items.length) { box.done = {}; }
    this.write(box);
  };
  // one tab at a time saves what waits (tabs of one planner share the outbox)
  function exclusively(name, run) {
    if (navigator.locks && navigator.locks.request) {
      return navigator.locks.request(name, { ifAvailable: true }, function (lock) { return lock ? run() : null; });
    }
    return run();
  }
  // keep the service worker's copy of the editor data in step with what was saved (so a page opened offline shows it)
  function patchCachedData(dataUrl, areas, generation) {
    if (!window.caches) { return Promise.resolve(); }
    return window.caches.open("weige-editor-data").then(function (cache) {
      return cache.match(dataUrl, { ignoreVary: true }).then(function (hit) {
        if (!hit) { return null; }
        var kept = hit.headers.get("X-Weige-Kept");
        return hit.json().then(function (data) {
          var byCode = {};
          areas.forEach(function (a) { byCode[a.code] = a; });
          data.children.features.forEach(function (f) {
            var a = byCode[f.properties.code];
            if (a) { f.geometry = a.geometry; f.properties.version = a.version; }
          });
          if (generation !== undefined) { data.change_set = data.generation = generation; }
          var headers = { "Content-Type": "application/json" };
          if (kept) { headers["X-Weige-Kept"] = kept; }  // the copy's age is that of what the server last sent
          return cache.put(dataUrl, new Response(JSON.stringify(data), { headers: headers }));
        });
      });
    }).catch(function () { return null; });
  }
  // whether every change of an item is what the server now holds (its save went through, its answer was lost)
  function alreadySaved(changes, data) {
    var byCode = {};
    data.children.features.forEach(function (f) { byCode[f.properties.code] = f; });
    function flat(c) { return [].concat.apply([], [].concat.apply([], [].concat.apply([], c))); }
    return changes.every(function (c) {
      var f = byCode[c.code];
      if (!f || !f.geometry || f.geometry.type !== c.geometry.type) { return false; }
      var a = flat(c.geometry.coordinates), b = flat(f.geometry.coordinates);
      return a.length === b.length && a.every(function (v, i) { return Math.abs(v - b[i]) < 1e-12; });
    });
  }
  function register(script, scope) {
    if (!("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.register(script, { scope: scope }).catch(function () { /* HTTP without TLS: no offline use */ });
  }
  window.WeigeEditorOutbox = {
    Outbox: Outbox, exclusively: exclusively, patchCachedData: patchCachedData, alreadySaved: alreadySaved,
    register: register
  };
}());
