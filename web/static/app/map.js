// My area: my grids and micro-grids and their buildings (vector tiles, as on the staff map), my position with its
// accuracy circle, my open issues, what is due (GET /api/v1/me/work) and the nearest service points.
// A tap on a building opens its page (check-in, report here).
(function () {
  "use strict";
  var A = window.WeigeApp, cfg = A.cfg, T = A.T, el = A.el;
  var box = document.getElementById("map");
  var map = L.map(box, { preferCanvas: true, minZoom: 10, maxZoom: 20, attributionControl: false });
  window.appMap = map;
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  function tiles(name, style, minZoom, interactive) {
    var styles = {};
    styles[name] = style;
    return L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", name), {
      vectorTileLayerStyles: styles, interactive: interactive, maxNativeZoom: 18, minZoom: minZoom,
      getFeatureId: function (f) { return f.properties.code || f.properties.id; }
    });
  }
  tiles("grid", { color: "#1f3a5f", weight: 2, fill: false }, 10, false).addTo(map);
  tiles("micro_grid", { color: "#2a9d8f", weight: 1, fill: true, fillColor: "#2a9d8f", fillOpacity: 0.05 }, 12, false).addTo(map);
  var due = {};  // building id → what is due there
  var buildings = tiles("buildings", function (props) {
    var wanted = due[props.id], vulnerable = wanted && wanted.due === "vulnerable";
    return { color: wanted ? "#b00020" : "#666", weight: wanted ? (vulnerable ? 3 : 2) : 0.5, fill: true,
      fillColor: vulnerable ? "#c2185b" : wanted ? "#f4a261" : (props.households ? "#8ecae6" : "#cccccc"), fillOpacity: 0.8 };
  }, 15, true).addTo(map);
  buildings.on("click", function (ev) {
    var id = ev.layer.properties.id;
    if (id) { location.href = cfg.buildingPage + "?id=" + encodeURIComponent(id); }
  });

  // -- my position ---------------------------------------------------------------------------------------------
  var me = null, ring = null, here = null, centred = false;
  var status = document.getElementById("position");
  function showPosition(pos) {
    var c = pos.coords, ll = [c.latitude, c.longitude];
    here = [c.longitude, c.latitude];
    if (!me) {
      ring = L.circle(ll, { radius: c.accuracy, color: "#1f78d1", weight: 1, fillOpacity: 0.12 }).addTo(map);
      me = L.circleMarker(ll, { radius: 8, color: "#fff", weight: 2, fillColor: "#1f78d1", fillOpacity: 1 }).addTo(map);
    } else { me.setLatLng(ll); ring.setLatLng(ll).setRadius(c.accuracy); }
    status.textContent = T.position + " " + c.longitude.toFixed(6) + ", " + c.latitude.toFixed(6) + " · " + A.fmt(T.accuracy, { m: Math.round(c.accuracy) });
    if (!centred) { centred = true; map.setView(ll, Math.max(map.getZoom(), 17)); }
    loadPoints();
  }
  function noPosition() { status.textContent = T.geo_denied; }
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(showPosition, noPosition, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  } else { noPosition(); }
  document.getElementById("locate").addEventListener("click", function () {
    if (me) { map.setView(me.getLatLng(), Math.max(map.getZoom(), 17)); } else { A.position().then(showPosition, noPosition); }
  });

  // -- my issues and what is due -------------------------------------------------------------------------------
  var issues = L.layerGroup().addTo(map);
  var dueList = document.getElementById("due");
  function issueMarker(i) {
    if (typeof i.lon !== "number" || typeof i.lat !== "number") { return; }
    var late = i.overdue || (typeof i.hours_left === "number" && i.hours_left < 0);
    var m = L.circleMarker([i.lat, i.lon], { radius: 9, color: "#fff", weight: 2, fillColor: late ? "#b00020" : "#e76f51", fillOpacity: 0.95 });
    var link = el("a", { href: cfg.issuePage + i.id, text: (i.category_name || i.category) + " · " + A.fmt(T.issue_no, { id: i.id }) });
    m.bindPopup(link);
    m.addTo(issues);
  }
  function showWork(work) {
    issues.clearLayers();
    (work.queue || []).forEach(issueMarker);
    due = {};
    dueList.textContent = "";
    var d = work.due || {};
    (d.buildings || []).forEach(function (b, n) {
      due[b.id] = b;
      if (n >= 10) { return; }  // the map marks them all; the list names the first ten
      var title = [el("span", { text: b.address || A.fmt(T.place_building, { id: b.id }) })];
      if (b.vulnerable_households > 0) {  // the small mark: vulnerable households live here
        title.unshift(el("span", { class: "tag vulnerable", text: T.vulnerable_mark, title: T.vulnerable_households + " " + b.vulnerable_households }));
      }
      dueList.appendChild(el("li", {}, [el("a", { href: cfg.buildingPage + "?id=" + b.id }, [
        el("span", { class: "title" }, title),
        el("span", { class: "muted", text: (b.due === "vulnerable" ? T.vulnerable_due : T.visit_due) + " · " + T.households + " " + (b.households || 0) })
      ])]));
    });
    (d.micro_grids || []).forEach(function (g) {
      dueList.appendChild(el("li", {}, [el("div", { class: "item" }, [
        el("span", { class: "title", text: g.name || g.code, title: g.code }),
        el("span", { class: "muted", text: T.patrol_due + (g.last_patrolled ? " · " + g.last_patrolled.slice(0, 10) : "") })
      ])]));
    });
    if ((d.buildings || []).length > 10) {
      dueList.appendChild(el("li", { class: "muted", text: A.fmt(T.more_due, { n: d.buildings.length - 10 }) }));
    }
    if (!dueList.children.length) { dueList.appendChild(el("li", { class: "muted", text: T.nothing })); }
    buildings.redraw();
  }
  // /me/work is the patrolling worker's; others (staff) see their areas' open issues
  (A.can("patrols:record") ? A.getJson(cfg.work) : Promise.resolve({ ok: false })).then(function (answer) {
    if (answer.ok) { showWork(answer.body); return; }
    return A.getJson(cfg.issues + "?state=open&per_page=200").then(function (fallback) {  // before /me/work exists
      showWork({ queue: fallback.ok ? fallback.body.issues : [] });
    });
  });

  // -- the nearest service points ----------------------------------------------------------------------------
  var points = L.layerGroup().addTo(map);
  var pointList = document.getElementById("points");
  var loadedAt = null;
  function loadPoints() {
    var centre = here || [map.getCenter().lng, map.getCenter().lat];
    if (loadedAt && A.metres(loadedAt, centre) < 100) { return; }
    loadedAt = centre;
    var d = 0.02, bbox = [centre[0] - d, centre[1] - d, centre[0] + d, centre[1] + d].map(function (v) { return v.toFixed(6); }).join(",");
    A.getJson(cfg.layerApi.replace("{layer}", "service_points") + "?bbox=" + bbox + "&zoom=16").then(function (answer) {
      if (!answer.ok) { return; }
      var found = (answer.body.features || []).filter(function (f) { return f.geometry && f.geometry.type === "Point"; })
        .map(function (f) { return { f: f, m: A.metres(centre, f.geometry.coordinates) }; })
        .sort(function (a, b) { return a.m - b.m; }).slice(0, 5);
      points.clearLayers();
      pointList.textContent = "";
      found.forEach(function (x) {
        var p = x.f.properties, c = x.f.geometry.coordinates;
        var kind = T.kinds[p.kind] || p.kind || "";
        L.circleMarker([c[1], c[0]], { radius: 7, color: "#fff", weight: 2, fillColor: "#6a4c93", fillOpacity: 0.95 })
          .bindPopup(el("span", { text: (p.name || "") + " · " + kind })).addTo(points);
        pointList.appendChild(el("li", {}, [el("div", { class: "item" }, [
          el("span", { class: "title", text: p.name || kind }),
          el("span", { class: "muted", text: kind + " · " + A.distanceText(x.m) + (p.opening_hours ? " · " + p.opening_hours : "") })
        ])]));
      });
      if (!found.length) { pointList.appendChild(el("li", { class: "muted", text: T.nothing })); }
    });
  }
  map.on("moveend", function () { if (!here) { loadPoints(); } });
  loadPoints();
})();
