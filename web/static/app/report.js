// Report: a category, a description, photos from the camera resized on the phone (longest side 1600 px, JPEG 0.8)
// and a place (GPS, a tap on the map, or ?building=id). The report goes into the outbox with a client UUID as its
// external_id, so sending it twice makes one issue; the answer shows the micro-grid it was located in.
(function () {
  "use strict";
  var A = window.WeigeApp, cfg = A.cfg, T = A.T, el = A.el;
  var form = document.getElementById("report");
  var placeText = document.getElementById("place");
  var result = document.getElementById("result");
  var photos = [];  // JPEG Blobs
  var place = null;  // {lon, lat, accuracy} or {building_id}
  var mine = {};
  var params = new URLSearchParams(location.search);

  // -- the map: tap to place ---------------------------------------------------------------------------------
  var map = L.map(document.getElementById("map"), { preferCanvas: true, minZoom: 10, maxZoom: 20, attributionControl: false });
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.vectorGrid.protobuf(cfg.tiles.replace("{layer}", "micro_grid"), {
    vectorTileLayerStyles: { micro_grid: { color: "#2a9d8f", weight: 1, fill: false } }, maxNativeZoom: 18, interactive: false
  }).addTo(map);
  var marker = null;
  function mark(lon, lat, label) {
    var ll = [lat, lon];
    if (!marker) { marker = L.circleMarker(ll, { radius: 9, color: "#fff", weight: 2, fillColor: "#b00020", fillOpacity: 1 }).addTo(map); }
    else { marker.setLatLng(ll); }
    placeText.textContent = label + ": " + lon.toFixed(6) + ", " + lat.toFixed(6);
  }
  map.on("click", function (ev) {
    place = { lon: ev.latlng.lng, lat: ev.latlng.lat };
    mark(place.lon, place.lat, T.place_map);
  });
  function useGps() {
    return A.position({ maximumAge: 0 }).then(function (pos) {
      var c = pos.coords;
      place = { lon: c.longitude, lat: c.latitude };
      mark(c.longitude, c.latitude, T.place_gps + " (" + A.fmt(T.accuracy, { m: Math.round(c.accuracy) }) + ")");
      map.setView([c.latitude, c.longitude], 18);
    }, function () { placeText.textContent = T.geo_denied; });
  }
  document.getElementById("gps").addEventListener("click", useGps);
  var building = parseInt(params.get("building") || "", 10);
  if (building > 0) {
    place = { building_id: building };
    placeText.textContent = A.fmt(T.place_building, { id: building });
    A.getJson(cfg.buildings + building).then(function (answer) {
      if (!answer.ok || !answer.body.geometry) { return; }
      var c = answer.body.geometry.coordinates, p = answer.body.properties || {};
      mark(c[0], c[1], p.address || p.name || A.fmt(T.place_building, { id: building }));
      map.setView([c[1], c[0]], 18);
    });
  }

  // -- photos, resized on the phone --------------------------------------------------------------------------
  function resized(file) {
    return createImageBitmap(file).then(function (image) {
      var scale = Math.min(1, 1600 / Math.max(image.width, image.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(image.width * scale);
      canvas.height = Math.round(image.height * scale);
      canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
      var thumb = document.createElement("canvas");  // previews as data: URLs (the page allows no blob: images)
      var t = Math.min(1, 192 / Math.max(canvas.width, canvas.height));
      thumb.width = Math.max(1, Math.round(canvas.width * t)); thumb.height = Math.max(1, Math.round(canvas.height * t));
      thumb.getContext("2d").drawImage(canvas, 0, 0, thumb.width, thumb.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve({ blob: blob, preview: thumb.toDataURL("image/jpeg", 0.7) }); }, "image/jpeg", 0.8);
      });
    });
  }
  var previews = document.getElementById("previews");
  document.getElementById("photo").addEventListener("change", function (ev) {
    var files = Array.prototype.slice.call(ev.target.files || []).slice(0, 9 - photos.length);
    Promise.all(files.map(resized)).then(function (done) {
      done.forEach(function (d) {
        photos.push(d.blob);
        previews.appendChild(el("img", { src: d.preview, alt: T.photo }));
      });
      ev.target.value = "";
    });
  });

  // -- sending -----------------------------------------------------------------------------------------------
  function areaName(code) {
    return A.getJson("/api/v1/areas/" + encodeURIComponent(code)).then(function (a) {
      return (a.ok && a.body.properties && a.body.properties.name) || (a.ok && a.body.name) || code;
    });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    result.className = "error";
    if (!form.category.value) { result.textContent = T.pick_category; return; }
    if (!place) { result.textContent = T.pick_place; return; }
    var body = Object.assign({ category: form.category.value, description: form.description.value, crs: "wgs84" }, place);
    A.outbox.add("report", body, { photos: photos.slice() }).then(function (item) {
      mine[item.id] = true;
      result.className = "";
      result.textContent = navigator.onLine ? T.sending : T.queued;
      form.reset(); photos = []; previews.textContent = "";
    });
  });
  window.addEventListener("weige:sent", function (ev) {
    if (!mine[ev.detail.item.id]) { return; }
    var issue = ev.detail.body;
    result.className = "ok";
    result.textContent = "";
    var link = el("a", { class: "btn", href: cfg.issuePage + issue.id, text: T.open_issue + " · " + A.fmt(T.issue_no, { id: issue.id }) });
    var where = el("span", { text: issue.micro_grid_code ? "" : T.unlocated });
    result.appendChild(el("div", {}, [el("strong", { text: T.sent }), " ", where]));
    result.appendChild(link);
    if (issue.micro_grid_code) {
      areaName(issue.micro_grid_code).then(function (name) { where.textContent = A.fmt(T.located_in, { name: name }); where.title = issue.micro_grid_code; });
    }
  });
  window.addEventListener("weige:failed", function (ev) {
    if (mine[ev.detail.item.id]) { result.className = "error"; result.textContent = T.failed + ": " + ev.detail.item.failed; }
  });
})();
