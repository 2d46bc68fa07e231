// What waits to be sent: one line per outbox item, a refused item with the server's reason and a discard button,
// and a button to send now.
(function () {
  "use strict";
  var A = window.WeigeApp, T = A.T, el = A.el;
  var list = document.getElementById("items"), count = document.getElementById("count");

  function describe(item) {
    var b = item.body || {};
    if (item.kind === "report") { return [b.description || b.category, A.fmt(T.n_photos, { n: (item.photos || []).length })].join(" · "); }
    if (item.kind === "positions") { return A.fmt(T.n_positions, { n: (b.positions || []).length }); }
    if (item.kind === "action") { return A.fmt(T.issue_no, { id: b.issue_id }) + " · " + b.action; }
    if (item.kind === "checkin") { return A.fmt(T.place_building, { id: b.building_id }); }
    return "";
  }
  function render() {
    return A.outbox.all().then(function (items) {
      list.textContent = "";
      count.textContent = items.length ? T.waiting + ": " + items.length : T.nothing;
      items.forEach(function (item) {
        var li = el("li", { "data-kind": item.kind }, [el("div", { class: "item" + (item.failed ? " late" : " waiting") }, [
          el("span", { class: "title", text: (T["kind_" + item.kind] || item.kind) + " · " + new Date(item.created).toLocaleTimeString(A.cfg.locale, { hour12: false }) }),
          el("span", { class: "muted", text: describe(item) }),
          item.failed ? el("span", { class: "error", text: T.failed + ": " + A.oneLanguage(item.failed) }) : null
        ])]);
        if (item.failed) {
          var discard = el("button", { type: "button", class: "btn", text: T.discard });
          discard.addEventListener("click", function () { A.outbox.discard(item.id); });
          li.appendChild(discard);
        }
        list.appendChild(li);
      });
    });
  }
  var send = document.getElementById("send");
  if (send) { send.addEventListener("click", function () { count.textContent = T.sending; A.flush(); }); }
  window.addEventListener("weige:changed", render);
  render();
  var who = document.getElementById("who");  // the shell names nobody: who is signed in comes from the session
  if (who) {
    fetch(A.cfg.session, { credentials: "same-origin", cache: "no-store" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { who.textContent = s ? s.display_name + " · " + s.role_name : (A.user() || ""); }, function () { who.textContent = A.user() || ""; });
  }
})();
