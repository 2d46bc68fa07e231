// The editor's outbox (离线待保存): vertex edits made while the server cannot be reached wait here, in localStorage
// per user and area, each change with the version its area was drawn on, and are saved in order when the connection
// returns. A version our own earlier save replaced is translated to the one that save produced, so a queue of edits
// of one area goes through; a version someone else replaced is sent as it is and refused (412), never overwritten.
// Also registers the editor's service worker, which keeps the page and its data for offline use.
(function () {
  "use strict";
  function Outbox(key) { this.key = key; }
  Outbox.prototype.read = function () {
    try {
      var box = JSON.parse(window.localStorage.getItem(this.key) || "null");
      if (box && Array.isArray(box.items) && box.ours && typeof box.ours === "object") { return box; }
    } catch (e) { /* unreadable: start again */ }
    return { items: [], ours: {} };
  };
  Outbox.prototype.write = function (box) {
    if (!box.items.length) { window.localStorage.removeItem(this.key); return; }
    window.localStorage.setItem(this.key, JSON.stringify(box));
  };
  Outbox.prototype.size = function () { return this.read().items.length; };
  Outbox.prototype.items = function () { return this.read().items; };
  // changes: [{code, geometry, version}] with the version each area was drawn on
  Outbox.prototype.add = function (changes) {
    var box = this.read();
    box.items.push({ changes: changes, at: new Date().toISOString() });
    this.write(box);
  };
  Outbox.prototype.clear = function () { window.localStorage.removeItem(this.key); };
  // the first item, its versions translated through our own saves since it was queued
  Outbox.prototype.next = function () {
    var box = this.read();
    if (!box.items.length) { return null; }
    return box.items[0].changes.map(function (c) {
      var ours = box.ours[c.code], version = c.version;
      if (ours && ours.bases.indexOf(version) >= 0) { version = ours.to; }
      return { code: c.code, geometry: c.geometry, version: version };
    });
  };
  // the first item was saved: areas → their new versions (answer of the save)
  Outbox.prototype.done = function (sent, areas) {
    var box = this.read(), first = box.items.shift();
    (areas || []).forEach(function (a) {
      var was = box.ours[a.code] || { bases: [] }, bases = was.bases.slice();
      sent.concat(first ? first.changes : []).forEach(function (c) {
        if (c.code === a.code && bases.indexOf(c.version) < 0) { bases.push(c.version); }
      });
      box.ours[a.code] = { bases: bases, to: a.version };
    });
    if (!box.items.length) { box.ours = {}; }
    this.write(box);
  };
  // keep the service worker's copy of the editor data in step with what was saved (so a page opened offline shows it)
  function patchCachedData(dataUrl, areas, generation) {
    if (!window.caches) { return Promise.resolve(); }
    return window.caches.open("weige-editor-data").then(function (cache) {
      return cache.match(dataUrl, { ignoreVary: true }).then(function (hit) {
        if (!hit) { return null; }
        return hit.json().then(function (data) {
          var byCode = {};
          areas.forEach(function (a) { byCode[a.code] = a; });
          data.children.features.forEach(function (f) {
            var a = byCode[f.properties.code];
            if (a) { f.geometry = a.geometry; f.properties.version = a.version; }
          });
          if (generation !== undefined) { data.change_set = data.generation = generation; }
          return cache.put(dataUrl, new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } }));
        });
      });
    }).catch(function () { return null; });
  }
  function register(script, scope) {
    if (!("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.register(script, { scope: scope }).catch(function () { /* HTTP without TLS: no offline use */ });
  }
  window.WeigeEditorOutbox = { Outbox: Outbox, patchCachedData: patchCachedData, register: register };
}());
