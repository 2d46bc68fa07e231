// The planners' editor: the areas below one parent as editable polygons (Leaflet-Geoman), buildings coloured by
// the area they fall in, household counts recomputed as you draw, and the rules the server checks on every save.
// A vertex that neighbours share moves in all of them (Geoman moves it in one; this script finds the same vertex
// in the others and saves them together). Offline (the server cannot be reached), vertex edits wait in the outbox
// (editor_outbox.js) and are saved in order when it can be; the page and its data come from the editor's service
// worker. Texts come from the page (#page-strings); data is set as text only.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var cfg = JSON.parse(el.dataset.config);
  var T = JSON.parse(document.getElementById("page-strings").textContent);
  var offline = window.WeigeEditorOutbox;
  var outbox = new offline.Outbox("weige-editor-outbox:" + cfg.user + ":" + cfg.code);
  offline.register(cfg.sw, cfg.swScope);
  var map = L.map(el, { minZoom: 3, maxZoom: 21 });
  window.editorMap = map;
  L.control.scale({ imperial: false }).addTo(map);
  if (cfg.lang === "zh") { map.pm.setLang("zh"); }
  map.pm.setGlobalOptions({ snappable: true, snapDistance: 15, allowSelfIntersection: false });
  var canvas = L.canvas({ padding: 0.2 });
  var PALETTE = ["#2a9d8f", "#e76f51", "#457b9d", "#f4a261", "#8ab17d", "#b5838d", "#6d597a", "#e9c46a", "#219ebc", "#bc6c25"];

  var state = { data: null, layers: {}, order: [], selected: [], tool: null, undo: [], redo: [], busy: false, fixVersions: null };
  var parentLayer = null, buildingLayer = null, failureLayer = L.layerGroup().addTo(map), moveLayer = L.layerGroup().addTo(map);

  function fmt(text, args) { return text.replace(/%\((\w+)\)s/g, function (_, k) { return args[k] === undefined ? "" : args[k]; }); }
  var statusEl = document.getElementById("status");
  function status(text, kind, buttons) {
    statusEl.textContent = text;
    statusEl.className = kind || "";
    (buttons || []).forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button"; button.textContent = b.label; button.addEventListener("click", b.run);
      statusEl.appendChild(document.createTextNode(" "));
      statusEl.appendChild(button);
    });
  }
  function reason(body, code) {
    var error = body && body.error;
    if (error && error.message) { return error.message; }
    return "HTTP " + code;
  }
  function api(method, url, body, headers) {
    var h = { "Accept": "application/json", "X-CSRFToken": cfg.csrf };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    var init = { method: method, credentials: "same-origin", headers: h };
    if (body !== undefined) { h["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (json) {
        var away = r.status === 503 && json && json.error && json.error.code === "offline";  // the service worker's answer
        return { ok: r.ok, status: r.status, body: json, offline: away };
      });
    }, function () { return { ok: false, status: 0, body: null, offline: true }; }).then(function (r) {
      state.offline = r.offline;  // the last answer: tools that need the server say so before they are used
      return r;
    });  // (a rejected fetch: the server cannot be reached)
  }
  function areaUrl(template, code) { return template.replace("CODE", encodeURIComponent(code)); }

  // -- geometry helpers (editor_geometry.js): GeoJSON coordinates ([lon, lat]) -----------------------------------
  var G = window.WeigeEditorGeometry;
  var same = G.same, onSegment = G.onSegment, ringsOf = G.ringsOf, contains = G.contains;
  var onOutline = G.onOutline, nearestOn = G.nearestOn, replaceVertex = G.replaceVertex;
  function geometryOf(code) { return state.layers[code].toGeoJSON(false).geometry; }
  function setGeometry(code, geometry) {
    var layer = state.layers[code];
    layer.setLatLngs(L.GeoJSON.coordsToLatLngs(geometry.coordinates, geometry.type === "Polygon" ? 1 : 2));
  }
  function snapshot() {
    var out = {};
    state.order.forEach(function (code) {
      var layer = state.layers[code];
      out[code] = { geometry: geometryOf(code), name: layer.props.name };
    });
    return out;
  }

  // -- households as you draw: every building in the first (lowest-code) area whose polygon holds its point -----
  function recount() {
    var data = state.data, codes = state.order.slice().sort();
    var geometries = {}, totals = {}, counts = {};
    codes.forEach(function (c) { geometries[c] = geometryOf(c); totals[c] = 0; counts[c] = 0; });
    data.buildings.features.forEach(function (b) {
      var p = b.properties, found = null;
      for (var i = 0; i < codes.length && !found; i++) { if (contains(geometries[codes[i]], p.lon, p.lat)) { found = codes[i]; } }
      b.area = found;
      if (found) { totals[found] += p.households; counts[found] += 1; }
    });
    var range = data.household_range;
    state.order.forEach(function (code) {
      var layer = state.layers[code], n = totals[code];
      layer.props.households = n;
      layer.props.buildings = counts[code];
      var bad = range && (n < range[0] || n > range[1]);
      var tip = layer.getTooltip();
      var text = layer.props.name + " · " + n;
      if (tip) { tip.setContent(text); tip.options.className = "hh-label" + (bad ? " bad" : ""); if (tip._container) { tip._container.className = tip._container.className.replace(/ bad/g, "") + (bad ? " bad" : ""); } }
      else { layer.bindTooltip(text, { permanent: true, direction: "center", className: "hh-label" + (bad ? " bad" : "") }); }
    });
    declutter();
    if (buildingLayer) {
      buildingLayer.eachLayer(function (l) {
        var colour = l.feature.area ? state.layers[l.feature.area].props.colour : "#d62828";
        l.setStyle({ color: colour, fillColor: colour });
      });
    }
    renderTable();
  }
  var pending = false;
  function liveRecount() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; recount(); });
  }
  // a label only where its area is big enough on screen to hold it (names of narrow areas would pile up)
  function declutter() {
    state.order.forEach(function (code) {
      var layer = state.layers[code], tip = layer.getTooltip();
      if (!tip) { return; }
      var b = layer.getBounds(), a = map.latLngToContainerPoint(b.getNorthWest()), c = map.latLngToContainerPoint(b.getSouthEast());
      var fits = Math.abs(c.x - a.x) > 110 && Math.abs(c.y - a.y) > 26;
      if (fits && !layer.isTooltipOpen()) { layer.openTooltip(); }
      if (!fits && layer.isTooltipOpen()) { layer.closeTooltip(); }
    });
  }
  map.on("zoomend", declutter);
  function renderTable() {
    var body = document.querySelector("#children tbody"), range = state.data.household_range;
    body.textContent = "";
    state.order.slice().sort().forEach(function (code) {
      var props = state.layers[code].props, tr = document.createElement("tr");
      if (state.selected.indexOf(code) >= 0) { tr.className = "selected"; }
      var name = document.createElement("td"), button = document.createElement("button");
      button.type = "button"; button.textContent = props.name; button.title = code;
      button.addEventListener("click", function (ev) { select(code, ev.shiftKey); map.fitBounds(state.layers[code].getBounds(), { maxZoom: 19 }); });
      name.appendChild(button);
      var n = document.createElement("td");
      n.className = "num" + (range && (props.households < range[0] || props.households > range[1]) ? " bad" : "");
      n.textContent = String(props.households);
      if (range && (props.households < range[0] || props.households > range[1])) { n.title = T.out_of_range; }
      tr.appendChild(name); tr.appendChild(n); body.appendChild(tr);
    });
    document.getElementById("range").textContent = range ? fmt(T.range, { low: range[0], high: range[1] }) : "";
  }

  // -- drawing the data ------------------------------------------------------------------------------------------
  function styleOf(code) {
    var props = state.layers[code].props, chosen = state.selected.indexOf(code) >= 0;
    return { color: chosen ? "#ffb703" : "#1f3a5f", weight: chosen ? 4 : 2, fillColor: props.colour, fillOpacity: 0.18 };
  }
  function select(code, add) {
    if (!add) { state.selected = []; }
    if (code === null) { add = false; }
    var at = state.selected.indexOf(code);
    if (code === null) { at = -2; }
    if (at >= 0 && add) { state.selected.splice(at, 1); } else if (at === -1) { state.selected.push(code); }
    state.order.forEach(function (c) { state.layers[c].setStyle(styleOf(c)); });
    renderTable();
  }
  function render(data) {
    state.data = data;
    Object.keys(state.layers).forEach(function (c) { map.removeLayer(state.layers[c]); });
    state.layers = {}; state.order = [];
    if (parentLayer) { map.removeLayer(parentLayer); }
    if (buildingLayer) { map.removeLayer(buildingLayer); }
    parentLayer = L.geoJSON(data.parent, { pmIgnore: true, snapIgnore: false, interactive: false,
      style: { color: "#1f3a5f", weight: 3, dashArray: "6 4", fill: false } });
    if (!map._loaded) { map.fitBounds(parentLayer.getBounds()); }  // a view before any canvas layer is added
    parentLayer.addTo(map);
    buildingLayer = L.geoJSON(data.buildings, {
      pmIgnore: true, snapIgnore: !data.footprints, interactive: false, renderer: canvas,
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 3, renderer: canvas, pmIgnore: true }); },
      style: { weight: 1, fillOpacity: 0.55 }
    }).addTo(map);
    data.children.features.forEach(function (f, i) {
      var layer = L.geoJSON(f, { snapIgnore: false }).getLayers()[0];
      layer.props = { code: f.properties.code, name: f.properties.name, version: f.properties.version,
        households: f.properties.households, colour: PALETTE[i % PALETTE.length] };
      state.layers[layer.props.code] = layer; state.order.push(layer.props.code);
      layer.setStyle(styleOf(layer.props.code));
      // selecting only with no tool on: while a line is drawn for a split or reshape, a click on an area is a point
      layer.on("click", function (ev) { if (state.tool === null) { L.DomEvent.stopPropagation(ev); select(layer.props.code, ev.originalEvent.shiftKey); } });
      layer.on("pm:edit", function () { edited(layer.props.code); });
      layer.on("pm:markerdrag", liveRecount);  // households follow the vertex while it is dragged
      layer.addTo(map);
    });
    state.selected = state.selected.filter(function (c) { return state.layers[c]; });
    state.order.forEach(function (c) { state.layers[c].setStyle(styleOf(c)); });
    state.shapes = snapshot();
    recount();
    document.getElementById("suggest-form").hidden = data.level !== "micro_grid";
    if (state.tool === "edit") { enableEdit(true); }
  }
  function load() {
    return api("GET", cfg.data).then(function (r) {
      if (!r.ok) { status(fmt(T.failed, { reason: reason(r.body, r.status) }), "bad"); return; }
      render(r.body);
      applyQueued();
      return Promise.all([changeSet(), rules()]).then(function () { if (outbox.size()) { flush(); } });
    });
  }

  // -- the change set and the rules --------------------------------------------------------------------------
  var rebaseButton = document.querySelector("[data-action=rebase]");
  function changeSet() {
    var p = document.getElementById("change-set");
    if (outbox.size()) { p.textContent = fmt(T.offline_saved, { n: outbox.size() }); return Promise.resolve(); }
    if (!state.data.change_set) {  // nothing drawn yet: the current generation
      p.textContent = T.no_change_set; rebaseButton.hidden = true; state.behind = 0;
      return Promise.resolve();
    }
    return api("GET", cfg.changeSet).then(function (r) {
      if (r.status === 404) { p.textContent = T.no_change_set; rebaseButton.hidden = true; state.behind = 0; return; }
      if (!r.ok) { return; }
      var cs = r.body;
      state.behind = cs.behind;
      p.textContent = fmt(T.change_set, { id: cs.change_set, base: cs.base_generation }) + (cs.behind ? " " + fmt(T.behind, { n: cs.behind }) : "");
      rebaseButton.hidden = !(cs.behind || cs.conflicts.length);
    });
  }
  // a failure in the page's language: the rule's name, the areas by name, what was measured
  function failureText(p) {
    var names = (p.codes || []).map(function (c) {
      if (state.layers[c]) { return state.layers[c].props.name; }
      return c === cfg.code ? state.data.parent.properties.name : c;
    });
    var rule = p.rule === "sliver" && p.kind ? T.rule_names.sliver + " (" + (T.rule_names[p.kind] || p.kind) + ")" : (T.rule_names[p.rule] || p.rule);
    var text = rule + "：" + names.join("、");
    if (p.area_m2 !== undefined) { text += " · " + p.area_m2 + " m²"; }
    if (p.building_id !== undefined) { text += " · " + T.building + " #" + p.building_id; }
    if (p.households !== undefined) { text += " · " + fmt(T.households_n, { n: p.households }) + (p.range ? " (" + p.range[0] + "–" + p.range[1] + ")" : ""); }
    return text;
  }
  function drawFailures(features) {
    failureLayer.clearLayers();
    var list = document.getElementById("failures");
    list.textContent = "";
    var errors = 0;
    features.forEach(function (f) {
      var waived = f.properties.waived;
      if (!waived) { errors += 1; }
      if (f.geometry) {
        var shape = L.geoJSON(f, { pmIgnore: true, snapIgnore: true, interactive: true,
          pointToLayer: function (g, latlng) { return L.circleMarker(latlng, { radius: 7 }); },
          style: { color: waived ? "#888" : "#c1121f", weight: 2, fillColor: waived ? "#bbb" : "#e63946", fillOpacity: 0.55, dashArray: waived ? "4 3" : null } });
        shape.bindTooltip(failureText(f.properties));
        failureLayer.addLayer(shape);
      }
      var li = document.createElement("li"), button = document.createElement("button");
      button.type = "button";
      button.textContent = failureText(f.properties) + (waived ? " (" + T.waived + ")" : "");
      button.title = f.properties.message || "";
      button.addEventListener("click", function () {
        if (f.geometry) { map.fitBounds(L.geoJSON(f).getBounds(), { maxZoom: 19 }); }
      });
      li.appendChild(button); list.appendChild(li);
    });
    document.getElementById("rules-summary").textContent = errors ? fmt(T.rules_failed, { n: errors }) : T.rules_ok;
  }
  function rules() {
    return api("GET", cfg.rules + "?generation=" + state.data.generation).then(function (r) {
      if (r.ok) { drawFailures(r.body.features); }
      if (r.offline || outbox.size()) { document.getElementById("rules-summary").textContent = T.rules_offline; }
    });
  }

  // -- saving: one request per gesture; every area it touched with the version it was drawn on ---------------
  function failed(r, before) {
    if (r.offline) {
      status(T.needs_server, "bad");
    } else if (r.status === 412) {
      var buttons = [{ label: T.reload, run: function () { status(T.loading); load().then(function () { status(""); }); } }];
      if (state.behind) { buttons.push({ label: T.rebase, run: rebase }); }
      status(T.stale, "bad", buttons);
    } else if (r.status === 409 && r.body && r.body.error && r.body.error.code === "change_set_conflict") {
      conflict(r.body.error);
    } else {
      status(fmt(T.failed, { reason: reason(r.body, r.status) }), "bad");
    }
    if (before) { Object.keys(before).forEach(function (c) { if (state.layers[c] && before[c]) { setGeometry(c, before[c].geometry); } }); recount(); }
  }
  function saveGeometries(codes, before, record) {
    var changes = codes.map(function (c) { return { code: c, geometry: geometryOf(c), version: state.layers[c].props.version }; });
    if (outbox.size()) { return queue(changes, before, record); }  // behind what already waits, in order
    status(T.saving);
    state.busy = true;
    return api("POST", cfg.save, { changes: changes }).then(function (r) {
      state.busy = false;
      if (r.offline) { return queue(changes, before, record); }
      if (!r.ok) { failed(r, before); return false; }
      saved(changes, r.body);
      if (record) { state.undo.push({ before: before, after: snapshot() }); state.redo = []; }
      state.shapes = snapshot();
      status(T.saved, "good");
      changeSet(); rules();
      return true;
    });
  }
  function saved(changes, body) {
    var versions = {};
    body.areas.forEach(function (a) {
      versions[a.code] = a.version;
      if (state.layers[a.code]) { state.layers[a.code].props.version = a.version; }
    });
    state.data.change_set = state.data.generation = body.generation;
    offline.patchCachedData(cfg.data, changes.map(function (c) {
      return { code: c.code, geometry: c.geometry, version: versions[c.code] === undefined ? c.version : versions[c.code] };
    }), body.generation);
  }

  // -- offline: a vertex edit the server cannot take now waits in the outbox and is saved when it can ----------
  var included = {};  // area → the last waiting edit of it that this page's drawing holds
  function queue(changes, before, record) {
    var id = outbox.add(changes.map(function (c) {
      return { code: c.code, geometry: c.geometry, version: c.version, after: included[c.code] || null };
    }));
    if (id === null) {  // the browser's storage is full: nothing is kept that could not be stored
      Object.keys(before).forEach(function (c) { if (state.layers[c] && before[c]) { setGeometry(c, before[c].geometry); } });
      recount();
      status(T.offline_full, "bad");
      return Promise.resolve(false);
    }
    changes.forEach(function (c) { included[c.code] = id; });
    if (record) { state.undo.push({ before: before, after: snapshot() }); state.redo = []; }
    state.shapes = snapshot();
    waiting();
    return Promise.resolve(true);
  }
  function waiting() {
    status(fmt(T.offline_saved, { n: outbox.size() }), "offline");
    document.getElementById("rules-summary").textContent = T.rules_offline;
    document.getElementById("change-set").textContent = fmt(T.offline_saved, { n: outbox.size() });
  }
  function applyQueued() {  // what waits, drawn over the data (which may be older)
    var items = outbox.items();
    included = {};
    items.forEach(function (item) {
      item.changes.forEach(function (c) {
        if (!state.layers[c.code]) { return; }
        try { setGeometry(c.code, c.geometry); included[c.code] = item.id; } catch (e) { /* unreadable: the save will say */ }
      });
    });
    if (items.length) { state.shapes = snapshot(); recount(); waiting(); }
    if (outbox.dropped) { status(fmt(T.offline_dropped, { n: outbox.dropped }), "bad"); outbox.dropped = 0; }
  }
  var flushing = false;
  function flush() {
    if (flushing || !outbox.size()) { return Promise.resolve(); }
    return offline.exclusively("weige-editor-flush:" + cfg.user + ":" + cfg.code, function () {
      flushing = true;
      status(fmt(T.syncing, { n: outbox.size() }));
      return api("GET", cfg.session).then(function (r) {  // a page opened offline may carry an old CSRF token
        if (r.offline) { return stop(fmt(T.offline_saved, { n: outbox.size() }), "offline"); }
        if (!r.ok || !r.body || !r.body.csrf_token) { return stop(T.sign_in_again, "bad"); }
        if (r.body.user !== cfg.user) { return stop(T.sign_in_again, "bad"); }  // another planner signed in here
        cfg.csrf = r.body.csrf_token;
        return step();
      });
    });
    function stop(text, kind, buttons) { flushing = false; status(text, kind, buttons); }
    function step() {
      var item = outbox.next();
      if (!item) { flushing = false; status(T.synced, "good"); changeSet(); rules(); return null; }
      return api("POST", cfg.save, { changes: item.changes }).then(function (r) {
        if (r.offline) { return stop(fmt(T.offline_saved, { n: outbox.size() }), "offline"); }
        if (r.ok) { outbox.done(item.id, r.body.areas); saved(item.changes, r.body); return step(); }
        if (r.status !== 412) { return refused(fmt(T.failed, { reason: reason(r.body, r.status) })); }
        // refused as stale: perhaps our own save went through and only its answer was lost
        return api("GET", cfg.data).then(function (d) {
          if (!d.ok || !d.body || !offline.alreadySaved(item.changes, d.body)) { return refused(T.offline_stale); }
          var areas = d.body.children.features.map(function (f) { return { code: f.properties.code, version: f.properties.version }; });
          outbox.done(item.id, areas);
          saved(item.changes, { areas: areas, generation: d.body.generation });
          return step();
        });
      });
    }
    function refused(text) {
      return stop(text, "bad", [
        { label: T.skip_offline, run: function () { outbox.skip(); load(); } },  // drawn again: the rest, over the server's
        { label: T.discard_offline, run: function () { if (window.confirm(T.confirm_discard_offline)) { outbox.clear(); load(); } } },
        { label: T.reload, run: function () { load(); } }
      ]);
    }
  }
  window.addEventListener("online", flush);
  window.setInterval(function () { if (outbox.size() && !state.busy) { flush(); } }, 30000);
  // Geoman changed one polygon: find what moved and move the same vertices of the neighbours, then save all.
  function edited(code) {
    var before = state.shapes, old = before[code] && before[code].geometry, now = geometryOf(code);
    if (!old || JSON.stringify(old) === JSON.stringify(now)) { return; }  // dropped back where it was (snapped)
    var moves = [], inserts = [], removes = [];
    var oldRings = [].concat.apply([], ringsOf(old)), newRings = [].concat.apply([], ringsOf(now));
    if (oldRings.length === newRings.length) {
      oldRings.forEach(function (ring, r) {
        var next = newRings[r];
        if (next.length === ring.length) {
          ring.forEach(function (p, i) { if (!same(p, next[i])) { moves.push([p, next[i]]); } });
        } else if (next.length === ring.length + 1) {
          for (var j = 1; j < next.length; j++) { if (!same(next[j], ring[j])) { inserts.push([ring[j - 1], ring[j], next[j]]); break; } }
        } else if (next.length === ring.length - 1) {
          for (var k = 1; k < ring.length; k++) { if (!same(ring[k], next[k])) { removes.push(ring[k]); break; } }
        }
      });
    }
    // the parent's outline does not move: a vertex on it slides along it (else a gap would open inside the parent)
    var parentRings = [].concat.apply([], ringsOf(state.data.parent.geometry)), adjusted = false;
    function keepOnParent(from, to) {
      if (!onOutline(from, parentRings)) { return to; }
      var p = nearestOn(to, parentRings);
      if (!same(p, to)) { replaceVertex(now, to, p); adjusted = true; }
      return p;
    }
    moves = moves.map(function (m) { return [m[0], keepOnParent(m[0], m[1])]; });
    inserts = inserts.map(function (ins) {
      return onOutline(ins[0], parentRings) && onOutline(ins[1], parentRings) ? [ins[0], ins[1], keepOnParent(ins[0], ins[2])] : ins;
    });
    if (adjusted) { setGeometry(code, now); }
    var touched = [code];
    state.order.forEach(function (other) {
      if (other === code) { return; }
      var g = geometryOf(other), changed = false;
      ringsOf(g).forEach(function (polygon) {
        polygon.forEach(function (ring) {
          moves.forEach(function (m) {
            var hit = false;
            ring.forEach(function (p, i) { if (same(p, m[0])) { ring[i] = m[1].slice(); hit = true; } });
            if (!hit) {  // the vertex lay on this neighbour's edge: the edge now bends through its new place
              for (var i = 1; i < ring.length; i++) { if (onSegment(m[0], ring[i - 1], ring[i])) { ring.splice(i, 0, m[1].slice()); hit = true; break; } }
            }
            changed = changed || hit;
          });
          inserts.forEach(function (ins) {
            for (var i = 1; i < ring.length; i++) {
              if ((same(ring[i - 1], ins[0]) && same(ring[i], ins[1])) || (same(ring[i - 1], ins[1]) && same(ring[i], ins[0]))) {
                ring.splice(i, 0, ins[2].slice()); changed = true; break;
              }
            }
          });
          removes.forEach(function (gone) {
            if (ring.length <= 4) { return; }
            for (var i = 1; i < ring.length - 1; i++) { if (same(ring[i], gone)) { ring.splice(i, 1); changed = true; break; } }
          });
        });
      });
      if (changed) {
        setGeometry(other, g);
        touched.push(other);
        if (state.tool === "edit") { state.layers[other].pm.disable(); state.layers[other].pm.enable({ snappable: true, allowSelfIntersection: false }); }
      }
    });
    recount();
    saveGeometries(touched, before, true);
  }

  // -- undo and redo: bring every area back to the snapshot (saved together; created/removed areas through the API)
  function restore(target) {
    var current = snapshot(), codes = Object.keys(target), changed = codes.filter(function (c) {
      return current[c] && JSON.stringify(current[c].geometry) !== JSON.stringify(target[c].geometry);
    });
    var missing = codes.filter(function (c) { return !current[c]; });
    var extra = Object.keys(current).filter(function (c) { return !target[c]; });
    changed.forEach(function (c) { setGeometry(c, target[c].geometry); });
    var steps = Promise.resolve(true);
    if (changed.length) { steps = saveGeometries(changed, current, false); }
    missing.forEach(function (c) {
      steps = steps.then(function (ok) {
        return ok && api("POST", cfg.areas, { code: c, name: target[c].name, level: state.data.level, parent_code: cfg.code, geometry: target[c].geometry })
          .then(function (r) { if (!r.ok) { failed(r); } return r.ok; });
      });
    });
    extra.forEach(function (c) {
      steps = steps.then(function (ok) {
        return ok && api("DELETE", areaUrl(cfg.area, c), undefined, { "If-Match": '"' + state.layers[c].props.version + '"' })
          .then(function (r) { if (!r.ok) { failed(r); } return r.ok; });
      });
    });
    return steps.then(function (ok) { return load().then(function () { return ok; }); });
  }
  // an entry is {before, after}: undo brings "before" back and keeps the entry for redo, redo brings "after" back
  function undo() {
    var entry = state.undo.pop();
    if (!entry) { status(T.undo_empty); return; }
    restore(entry.before).then(function (ok) { if (ok) { state.redo.push(entry); } else { state.undo.push(entry); } });
  }
  function redo() {
    var entry = state.redo.pop();
    if (!entry || !entry.after) { status(T.redo_empty); return; }
    restore(entry.after).then(function (ok) { if (ok) { state.undo.push(entry); } else { state.redo.push(entry); } });
  }

  // -- tools -------------------------------------------------------------------------------------------------
  function enableEdit(on) {
    state.order.forEach(function (c) { if (on) { state.layers[c].pm.enable({ snappable: true, allowSelfIntersection: false }); } else { state.layers[c].pm.disable(); } });
  }
  function setTool(tool) {
    if (state.tool === "edit") { enableEdit(false); }
    map.pm.disableDraw();
    if (map.pm.globalCutModeEnabled()) { map.pm.disableGlobalCutMode(); }
    state.tool = state.tool === tool ? null : tool;
    Array.prototype.forEach.call(document.querySelectorAll("[data-tool]"), function (b) { b.setAttribute("aria-pressed", String(b.dataset.tool === state.tool)); });
    if (state.offline && ["draw", "split", "reshape", "cut"].indexOf(state.tool) >= 0) { state.tool = null; setTool(null); status(T.needs_server, "bad"); return; }
    if (state.tool === "edit") { enableEdit(true); status(T.edit_hint); }
    else if (state.tool === "draw") { map.pm.enableDraw("Polygon", { snappable: true }); status(T.draw_polygon); }
    else if (state.tool === "split" || state.tool === "reshape") {
      if (state.selected.length !== 1) { status(T.select_first, "bad"); state.tool = null; setTool(null); return; }
      map.pm.enableDraw("Line", { snappable: true }); status(T.draw_line);
    } else if (state.tool === "cut") { state.before = snapshot(); map.pm.enableGlobalCutMode({ allowSelfIntersection: false }); status(T.cut_hint); }
  }
  function afterChange(r, before) {
    if (!r.ok) { failed(r); return load(); }
    state.undo.push({ before: before, after: null }); state.redo = [];
    return load().then(function () { state.undo[state.undo.length - 1].after = snapshot(); status(T.saved, "good"); });
  }
  map.on("pm:create", function (e) {
    var geometry = e.layer.toGeoJSON(false).geometry, tool = state.tool, before = snapshot();
    map.removeLayer(e.layer);
    setTool(null);
    if (e.shape === "Polygon" && tool === "draw") {
      var name = window.prompt(T.new_name, (T.level_names[state.data.level] || "") + " " + state.data.next_code.slice(-3));
      if (!name || !name.trim()) { status(""); return; }  // dismissed: nothing drawn
      api("POST", cfg.areas, { code: state.data.next_code, name: name, level: state.data.level, parent_code: cfg.code, geometry: geometry })
        .then(function (r) { return afterChange(r, before); });
    } else if (e.shape === "Line" && (tool === "split" || tool === "reshape")) {
      var code = state.selected[0], version = state.layers[code].props.version;
      api("POST", areaUrl(tool === "split" ? cfg.split : cfg.reshape, code), { line: geometry, version: version })
        .then(function (r) { return afterChange(r, before); });
    }
  });
  var cuts = [];
  map.on("pm:cut", function (e) {
    var code = e.originalLayer && e.originalLayer.props && e.originalLayer.props.code;
    if (!code) { return; }
    cuts.push({ code: code, geometry: e.layer.toGeoJSON(false).geometry });
    map.removeLayer(e.layer);
    if (cuts.length === 1) {
      setTimeout(function () {
        var changes = cuts.map(function (c) { return { code: c.code, geometry: c.geometry, version: state.layers[c.code].props.version }; });
        var before = state.before;
        cuts = [];
        setTool(null);
        api("POST", cfg.save, { changes: changes }).then(function (r) { return afterChange(r, before); });
      }, 0);
    }
  });
  function merge() {
    if (state.selected.length < 2) { status(T.select_two, "bad"); return; }
    var versions = {}, before = snapshot();
    state.selected.forEach(function (c) { versions[c] = state.layers[c].props.version; });
    api("POST", cfg.merge, { codes: state.selected.slice(), versions: versions }).then(function (r) { return afterChange(r, before); });
  }
  function remove() {
    if (state.selected.length !== 1) { status(T.select_first, "bad"); return; }
    var code = state.selected[0], props = state.layers[code].props, before = snapshot();
    if (!window.confirm(fmt(T.confirm_delete, { name: props.name }))) { return; }
    api("DELETE", areaUrl(cfg.area, code), undefined, { "If-Match": '"' + props.version + '"' }).then(function (r) { return afterChange(r, before); });
  }

  // -- fix, publish, rebase, discard -----------------------------------------------------------------------------
  var fixForm = document.getElementById("fix-form"), fixApply = document.getElementById("fix-apply");
  function fixBody(apply) {
    var body = { tolerance_m: parseFloat(document.getElementById("tolerance").value), apply: apply };
    if (state.data.change_set) { body.generation = "draft"; }
    return body;
  }
  fixForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    moveLayer.clearLayers();
    api("POST", cfg.fix, fixBody(false)).then(function (r) {
      if (!r.ok) { failed(r); return; }
      var found = r.body, moves = found.moves.features;
      state.fixVersions = found.versions;
      moves.forEach(function (f) {
        var c = f.geometry.coordinates;
        L.circleMarker([c[1], c[0]], { radius: 5, color: "#7b2cbf", pmIgnore: true, snapIgnore: true })
          .bindTooltip(f.properties.code + " · " + fmt(T.moved, { m: f.properties.distance_m })).addTo(moveLayer);
      });
      if (!found.fixed.length) { status(fmt(T.fix_nothing, { tol: found.tolerance_m })); fixApply.hidden = true; return; }
      status(fmt(T.fix_preview, { n: moves.length, max: found.max_move_m, fixed: found.fixed.length, left: found.not_fixed.length }));
      fixApply.hidden = false;
    });
  });
  fixApply.addEventListener("click", function () {
    var before = snapshot(), tags = Object.keys(state.fixVersions || {}).map(function (c) { return '"' + state.fixVersions[c] + '"'; });
    api("POST", cfg.fix, fixBody(true), { "If-Match": tags.join(", ") }).then(function (r) {
      fixApply.hidden = true; moveLayer.clearLayers();
      return afterChange(r, before);
    });
  });
  // suggested micro-grids (a grid only): shown dashed over the map, written into the change set on request
  var suggestForm = document.getElementById("suggest-form"), suggestApply = document.getElementById("suggest-apply");
  var suggestLayer = L.layerGroup().addTo(map);
  suggestForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    suggestLayer.clearLayers();
    status(T.suggesting);
    api("POST", cfg.suggest, { apply: false }).then(function (r) {
      if (!r.ok) { failed(r); return; }
      r.body.features.forEach(function (f) {
        // a whole building above the ceiling is a micro-grid of its own (waived on apply); the reason says so
        var tip = document.createElement("div"), p = f.properties;
        tip.textContent = p.name + " · " + p.households;
        if (p.reason) { var why = document.createElement("div"); why.textContent = p.reason; tip.appendChild(why); }
        var left = Boolean(p.problem && !p.waiver);  // left to the planner: drawn red, its reason shown
        L.geoJSON(f, { pmIgnore: true, snapIgnore: true, interactive: false,
          style: { color: left ? "#c1121f" : "#7b2cbf", weight: 2, dashArray: "5 4", fill: false } })
          .bindTooltip(tip, { permanent: left, direction: "center" }).addTo(suggestLayer);
      });
      var sum = r.body.summary;
      status(fmt(T.suggested, { n: sum.groups, low: sum.range[0], high: sum.range[1], kept: sum.kept.length,
        "new": sum["new"].length, reported: sum.reported.filter(function (g) { return !g.waiver; }).length }));
      suggestApply.hidden = false;
    });
  });
  suggestApply.addEventListener("click", function () {
    var before = snapshot();
    api("POST", cfg.suggest, { apply: true }).then(function (r) {
      suggestApply.hidden = true; suggestLayer.clearLayers();
      return afterChange(r, before);
    });
  });
  function conflict(error) {
    var text = (error.conflicts || []).map(function (c) {
      var shown = state.layers[c.code] ? state.layers[c.code].props.name : c.code;
      return fmt(T.conflict, { generation: c.generation, author: c.author, codes: shown });
    }).join(" ");
    status(text || error.message, "bad", [{ label: T.rebase, run: rebase }]);
    rebaseButton.hidden = false;
  }
  function publish() {
    api("POST", cfg.publish).then(function (r) {
      if (r.ok) { state.undo = []; state.redo = []; status(fmt(T.published, { id: r.body.generation }), "good"); return load(); }
      if (r.status === 409 && r.body.error.code === "rules_failed") { drawFailures(r.body.error.failures); status(T.publish_refused, "bad"); return; }
      if (r.status === 409 && r.body.error.code === "change_set_conflict") { conflict(r.body.error); return; }
      failed(r);
    });
  }
  function rebase() {
    api("POST", cfg.rebase).then(function (r) {
      if (!r.ok) { failed(r); return; }
      status(fmt(T.rebased, { id: r.body.base_generation }), "good");
      load();
    });
  }
  function discard() {
    if (!window.confirm(T.confirm_discard)) { return; }
    api("DELETE", cfg.discard).then(function (r) {
      if (!r.ok) { failed(r); return; }
      state.undo = []; state.redo = [];
      status(T.discarded, "good");
      load();
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-tool]"), function (b) {
    b.addEventListener("click", function () { setTool(b.dataset.tool); });
  });
  var actions = { merge: merge, "delete": remove, undo: undo, redo: redo, publish: publish, rebase: rebase, discard: discard };
  Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (b) {
    b.addEventListener("click", function () { actions[b.dataset.action](); });
  });
  document.addEventListener("keydown", function (ev) {
    if (!(ev.ctrlKey || ev.metaKey) || /input|textarea/i.test(ev.target.tagName)) { return; }
    if (ev.key === "z" && !ev.shiftKey) { ev.preventDefault(); undo(); }
    if (ev.key === "y" || (ev.key === "z" && ev.shiftKey)) { ev.preventDefault(); redo(); }
  });
  map.on("click", function () { if (state.tool === null && state.selected.length) { select(null, false); } });
  status(T.loading);
  load().then(function () { if (statusEl.textContent === T.loading) { status(""); } });
}());
