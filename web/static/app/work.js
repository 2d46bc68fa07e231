// My issues: the open issues routed to me, overdue first, with the working hours left (GET /api/v1/me/work;
// before that exists, the open issues of my areas from /api/v1/issues). Reports still in the outbox are shown on
// top as waiting. The issues' pages are saved for offline use.
(function () {
  "use strict";
  var A = window.WeigeApp, cfg = A.cfg, T = A.T, el = A.el;
  var list = document.getElementById("queue");
  var status = document.getElementById("status");
  var categories = {};

  function sorted(queue) {
    function late(i) { return i.overdue || (typeof i.hours_left === "number" && i.hours_left < 0); }
    return queue.slice().sort(function (a, b) {
      if (late(a) !== late(b)) { return late(a) ? -1 : 1; }
      var ha = typeof a.hours_left === "number" ? a.hours_left : Infinity, hb = typeof b.hours_left === "number" ? b.hours_left : Infinity;
      if (ha !== hb) { return ha - hb; }
      return String(a.due_at || "9999").localeCompare(String(b.due_at || "9999"));
    });
  }

  function when(i) {
    if (typeof i.hours_left === "number") {
      var h = Math.round(Math.abs(i.hours_left) * 10) / 10;  // 134, or 2.5: whole or one decimal
      h = h.toLocaleString(cfg.locale, { maximumFractionDigits: 1 });
      return i.hours_left < 0 ? A.fmt(T.hours_late, { h: h }) : A.fmt(T.hours_left, { h: h });
    }
    if (i.due_at) {  // local time without seconds
      return T.due + " " + new Date(i.due_at).toLocaleString(cfg.locale, { hour12: false, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
    }
    return "";
  }

  function waitingCards() {
    return A.outbox.all().then(function (items) {
      return items.filter(function (i) { return i.kind === "report"; }).map(function (i) {
        return el("li", {}, [el("div", { class: "item waiting" }, [
          el("span", { class: "title", text: (categories[i.body.category] || i.body.category) + " · " + (i.failed ? T.failed : T.waiting) }),
          el("span", { class: "muted", text: i.body.description || "" })
        ])]);
      });
    }, function () { return []; });
  }

  function render(queue, note) {
    return waitingCards().then(function (waiting) {
      list.textContent = "";
      waiting.forEach(function (li) { list.appendChild(li); });
      sorted(queue).forEach(function (i) {
        var late = i.overdue || (typeof i.hours_left === "number" && i.hours_left < 0);
        list.appendChild(el("li", {}, [el("a", { href: cfg.issuePage + i.id, class: "item" + (late ? " late" : ""), "data-id": i.id }, [
          el("span", { class: "title", text: (T.categories[i.category] || categories[i.category] || i.category) + (late ? " · " + T.overdue : "") }),
          el("span", { class: "muted", text: [T.states[i.state] || i.state, i.area_name || "", when(i)].filter(Boolean).join(" · ") }),
          i.description ? el("span", { text: i.description.slice(0, 80) }) : null
        ])]));
      });
      status.textContent = note || (list.children.length ? "" : T.nothing);
      A.keepPages(queue.map(function (i) { return cfg.issuePage + i.id; }));
    });
  }

  function load() {
    // /me/work is the patrolling worker's; staff without patrols:record get their areas' open issues
    var mine = A.can("patrols:record") ? A.getJson(cfg.work) : Promise.resolve({ ok: false, status: 403, body: {} });
    mine.then(function (answer) {
      if (answer.ok) { return render(answer.body.queue || []); }
      if (answer.status === 404 || answer.status === 403) {  // no /me/work (or not a patrolling role): my areas' open issues
        return A.getJson(cfg.issues + "?state=open&per_page=200").then(function (fallback) {
          return render(fallback.ok ? fallback.body.issues : [], fallback.ok ? "" : T.load_failed);
        });
      }
      return render([], T.load_failed);
    });
  }
  A.getJson("/api/v1/issue-categories").then(function (answer) {
    var zh = cfg.locale.indexOf("zh") === 0;
    ((answer.ok && answer.body.categories) || []).forEach(function (c) { categories[c.code] = zh ? c.name_zh : (c.name_en || c.name_zh); });
  }).then(load);
  window.addEventListener("weige:sent", load);
})();
