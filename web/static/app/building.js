// A building (?id=): its facts and what is due there; check in (POST /api/v1/checkins through the outbox, with a
// GPS fix) and report here.
(function () {
  "use strict";
  var A = window.WeigeApp, cfg = A.cfg, T = A.T, el = A.el;
  var id = parseInt(new URLSearchParams(location.search).get("id") || "", 10);
  var facts = document.getElementById("b-facts");
  var status = document.getElementById("checkin-status");
  var mine = {};
  if (!(id > 0)) { status.textContent = T.nothing; return; }
  document.getElementById("report-here").href = cfg.reportPage + "?building=" + id;

  function fact(label, value) {
    if (value === null || value === undefined || value === "") { return; }
    facts.appendChild(el("dt", { text: label }));
    facts.appendChild(el("dd", { text: String(value) }));
  }
  A.getJson(cfg.buildings + id).then(function (answer) {
    if (!answer.ok) { status.textContent = answer.status === 503 || !answer.body.error ? T.load_failed : A.oneLanguage(answer.body.error.message); return; }
    var p = answer.body.properties || {};
    document.getElementById("b-name").textContent = p.name || p.address || A.fmt(T.place_building, { id: id });
    fact(T.address, p.address);
    fact(T.households, p.households);
    if (p.vulnerable_households > 0) { fact(T.vulnerable_households, p.vulnerable_households); }
    fact(T.floors, p.floors);
    fact(T.use, p.use ? (T.uses[p.use] || p.use) : "");
  });
  if (A.can("patrols:record")) A.getJson(cfg.work).then(function (answer) {
    var due = ((answer.ok && answer.body.due && answer.body.due.buildings) || []).filter(function (b) { return b.id === id; })[0];
    if (!due) { return; }
    var line = document.getElementById("b-due");
    line.textContent = "";
    if (due.due === "vulnerable") { line.appendChild(el("span", { class: "tag vulnerable", text: T.vulnerable_mark })); }
    line.appendChild(document.createTextNode(" " + (due.due === "vulnerable" ? T.vulnerable_due : T.visit_due)));
  });

  function show(item, body, ok) {
    var details = (body && body.error && body.error.details) || {};
    if (ok) { status.className = "ok"; status.textContent = A.fmt(T.checked_in, { m: Math.round(body.distance_m || 0) }); }
    else if (item.failed_code === "too_far" || (body && body.error && body.error.code === "too_far")) {
      status.className = "error"; status.textContent = A.fmt(T.too_far, { m: Math.round(details.distance_m || 0) });
    } else { status.className = "error"; status.textContent = T.failed + ": " + A.oneLanguage(item.failed); }
  }
  var checkin = document.getElementById("checkin");  // only for those who record patrols
  if (checkin) checkin.addEventListener("click", function () {
    status.className = ""; status.textContent = T.loading;
    A.position({ maximumAge: 0 }).then(function (pos) {
      var c = pos.coords;
      return A.outbox.add("checkin", {
        client_id: A.uuid(), building_id: id, lon: c.longitude, lat: c.latitude, accuracy: c.accuracy, at: A.isoNow(pos.timestamp)
      }).then(function (item) { mine[item.id] = true; status.textContent = navigator.onLine ? T.sending : T.queued; });
    }, function () { status.className = "error"; status.textContent = T.geo_denied; });
  });
  window.addEventListener("weige:sent", function (ev) { if (mine[ev.detail.item.id]) { show(ev.detail.item, ev.detail.body, true); } });
  window.addEventListener("weige:failed", function (ev) { if (mine[ev.detail.item.id]) { show(ev.detail.item, ev.detail.body, false); } });
})();
