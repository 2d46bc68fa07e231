// The phone app's core, shared by every page: the service worker, the IndexedDB outbox and its sending, the badge.
// What the worker does (a report with photos, a patrol's start, positions and end, a check-in, an issue step) is
// first stored in the outbox with a client UUID, then sent; the server answers a resend with the stored object
// (external_id for reports, client_id for patrols and check-ins, a position's time within its patrol), so an item
// sent twice is never two. Items are sent oldest first when the connection returns (online event, retries with
// backoff) and when any page opens. Texts come from the page (#page-strings), never from this file.
(function () {
  "use strict";
  var cfg = JSON.parse(document.body.dataset.config);
  var T = JSON.parse(document.getElementById("page-strings").textContent);

  function fmt(text, values) {
    return String(text).replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));  // plain-HTTP intranets have no randomUUID
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function isoNow(ms) { return new Date(ms === undefined ? Date.now() : ms).toISOString().replace("Z", "+00:00"); }

  // -- IndexedDB ---------------------------------------------------------------------------------------------
  var opening = null;
  function db() {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        var req = indexedDB.open("weige-app", 1);
        req.onupgradeneeded = function () {
          var d = req.result;
          d.createObjectStore("outbox", { keyPath: "id" });      // items waiting to be sent
          d.createObjectStore("patrols", { keyPath: "client_id" });  // patrols on this phone, with their fixes
          d.createObjectStore("results", { keyPath: "id" });     // the server's answer to a sent item
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return opening;
  }
  function store(name, mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(name, mode);
        var result;
        var req = work(t.objectStore(name));
        if (req) { req.onsuccess = function () { result = req.result; }; }
        t.oncomplete = function () { resolve(result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  var data = {
    get: function (name, key) { return store(name, "readonly", function (s) { return s.get(key); }); },
    put: function (name, value) { return store(name, "readwrite", function (s) { return s.put(value); }); },
    all: function (name) { return store(name, "readonly", function (s) { return s.getAll(); }); },
    remove: function (name, key) { return store(name, "readwrite", function (s) { return s.delete(key); }); },
    // read, change and write one record in one transaction: fn(stored or undefined) returns the new value
    update: function (name, key, fn) {
      return store(name, "readwrite", function (s) {
        var req = s.get(key);
        req.onsuccess = function () { var value = fn(req.result); if (value) { s.put(value); } };
      });
    }
  };

  // -- who is signed in ----------------------------------------------------------------------------------------
  // The page shells are the same for everyone (cached for offline use), so the worker comes from /app/session and
  // is remembered on the phone for offline use. Another worker signed in here: what the phone kept for the previous
  // one (pages, answers, patrol state) is forgotten; their outbox items stay, unshown, until they sign in again.
  var USER = "weige.user";
  function user() { return localStorage.getItem(USER); }
  var asking = null;
  function whoami() {
    if (!asking) {
      asking = fetch(cfg.session, { credentials: "same-origin", redirect: "manual", cache: "no-store" }).then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401 || r.status === 403) { throw { signIn: true }; }
        if (!r.ok) { throw { transient: true }; }
        return r.json();
      }).then(function (session) {
        var before = user();
        var switched = before !== null && before !== session.user;
        localStorage.setItem(USER, session.user);
        Array.prototype.forEach.call(document.querySelectorAll("input[name=csrf_token]"), function (i) { i.value = session.csrf_token; });
        if (switched) {
          return forgetPhone().then(function () { location.reload(); return new Promise(function () {}); });
        }
        return session.user;
      }, function (err) {
        if (err && err.signIn) { signInNeeded = true; }
        return user();  // offline: the worker who used the phone last (cleared at sign-out)
      });
    }
    return asking;
  }

  // forget what this phone kept for the worker signed in: caches of pages and answers, the service worker (so its
  // precached shells are fetched again), the patrol state; outbox items wait for their own worker's session
  function forgetPhone() {
    var recorder = window.WeigeApp && window.WeigeApp.recorder;
    var patrolDone = recorder ? recorder.forget() : Promise.resolve();
    return patrolDone.then(function () {
      if (!window.caches) { return null; }
      return caches.keys().then(function (names) {
        return Promise.all(names.filter(function (n) { return n.indexOf("weige-app") === 0; }).map(function (n) { return caches.delete(n); }));
      });
    }).then(function () {
      if (!navigator.serviceWorker || !navigator.serviceWorker.getRegistrations) { return null; }
      return navigator.serviceWorker.getRegistrations().then(function (regs) {
        return Promise.all(regs.map(function (r) { return r.unregister(); }));
      });
    }).then(function () { return null; }, function () { return null; });
  }

  function changed() {
    window.dispatchEvent(new CustomEvent("weige:changed"));
    return updateBadge();
  }

  var outbox = {
    // kind: report | patrol_start | positions | patrol_end | checkin | action; body: what is sent
    add: function (kind, body, extra) {
      var known = extra && extra.user ? Promise.resolve(extra.user) : whoami();
      return known.then(function (who) {
        var item = Object.assign({ id: uuid(), kind: kind, body: body, created: Date.now(), tries: 0, failed: null }, extra || {}, { user: who });
        return data.put("outbox", item).then(changed).then(function () { flushSoon(); return item; });
      });
    },
    // the signed-in worker's items (another worker's wait, unshown, for their own session)
    all: function () {
      var me = user();
      return data.all("outbox").then(function (items) {
        return items.filter(function (i) { return me !== null && i.user === me; }).sort(function (a, b) { return a.created - b.created; });
      });
    },
    discard: function (id) { return data.remove("outbox", id).then(changed); }
  };

  // -- sending -------------------------------------------------------------------------------------------------
  function freshToken() {
    return fetch(cfg.session, { credentials: "same-origin", redirect: "manual", cache: "no-store" }).then(function (r) {
      if (r.type === "opaqueredirect" || r.status === 401 || r.status === 403) { throw { signIn: true }; }
      if (!r.ok) { throw { transient: true }; }
      return r.json();
    });
  }

  function post(url, body, token) {
    var headers = { "X-CSRFToken": token, "Accept": "application/json" };
    var payload = body;
    if (!(body instanceof FormData)) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: payload, redirect: "manual" })
      .then(function (r) {
        return r.json().then(function (b) { return { status: r.status, body: b }; }, function () { return { status: r.status, body: {} }; });
      });
  }

  function patrolOf(clientId) { return data.get("patrols", clientId); }

  var senders = {
    report: function (item, token) {
      var form = new FormData();
      Object.keys(item.body).forEach(function (k) {
        var v = item.body[k];
        if (v !== null && v !== undefined && v !== "") { form.append(k, String(v)); }
      });
      form.append("external_id", item.id);
      (item.photos || []).forEach(function (blob, i) { form.append("photos", blob, "photo-" + (i + 1) + ".jpg"); });
      return post("/api/v1/issues", form, token);
    },
    patrol_start: function (item, token) {
      return post(cfg.patrols, item.body, token).then(function (answer) {
        if (answer.status < 300) {
          return data.update("patrols", item.body.client_id, function (p) {
            if (p) { p.server_id = answer.body.id; }
            return p;
          }).then(function () { return answer; });
        }
        return answer;
      });
    },
    positions: function (item, token) {
      return patrolOf(item.body.patrol).then(function (p) {
        if (!p || !p.server_id) { return { wait: true }; }
        return post(cfg.patrols + "/" + p.server_id + "/positions", { positions: item.body.positions }, token).then(function (answer) {
          // a batch is queued before its patrol's end and sent before it: once the end was answered, a resend
          // refused because the patrol has ended (409) was delivered the first time
          if (answer.status === 409 && p.ended_on_server) { return { status: 200, body: { accepted: 0, duplicates: item.body.positions.length } }; }
          return answer;
        });
      });
    },
    patrol_end: function (item, token) {
      return patrolOf(item.body.patrol).then(function (p) {
        if (!p || !p.server_id) { return { wait: true }; }
        return post(cfg.patrols + "/" + p.server_id + "/end", { ended_at: item.body.ended_at }, token).then(function (answer) {
          if (answer.status < 300) {
            return data.update("patrols", p.client_id, function (q) {
              if (q) { q.summary = answer.body.summary || null; q.ended_on_server = true; }
              return q;
            }).then(function () { return answer; });
          }
          return answer;
        });
      });
    },
    checkin: function (item, token) { return post(cfg.checkins, item.body, token); },
    action: function (item, token) {
      return post("/api/v1/issues/" + item.body.issue_id + "/actions", { action: item.body.action, note: item.body.note }, token);
    }
  };

  var flushing = null;
  var retryTimer = null;
  var failures = 0;
  var signInNeeded = false;

  function later() {
    clearTimeout(retryTimer);
    var delay = Math.min(300000, 2000 * Math.pow(2, failures)) * (0.75 + Math.random() / 2);
    failures += 1;
    retryTimer = setTimeout(flush, delay);
  }
  function flushSoon() { setTimeout(flush, 0); }

  function sendOne(item, token) {
    return senders[item.kind](item, token).then(function (answer) {
      if (answer.wait) { return "wait"; }
      var s = answer.status;
      if (s >= 200 && s < 300) {
        return data.put("results", { id: item.id, kind: item.kind, at: Date.now(), status: s, body: answer.body })
          .then(function () { return data.remove("outbox", item.id); })
          .then(function () {
            window.dispatchEvent(new CustomEvent("weige:sent", { detail: { item: item, status: s, body: answer.body } }));
            return "sent";
          });
      }
      if (s === 401 || s === 0) { signInNeeded = true; return "stop"; }  // 0: redirected to the sign-in page
      if (s === 408 || s === 429 || s >= 500) { return "retry"; }
      item.failed = oneLanguage((answer.body.error && answer.body.error.message) || ("HTTP " + s));
      item.failed_code = answer.body.error && answer.body.error.code;
      item.failed_details = answer.body.error && answer.body.error.details;
      item.tries += 1;
      return data.put("outbox", item).then(function () {
        window.dispatchEvent(new CustomEvent("weige:failed", { detail: { item: item, status: s, body: answer.body } }));
        return "failed";
      });
    }, function () { return "retry"; });  // no connection
  }

  var again = false;
  function flush() {
    if (flushing) { again = true; return flushing; }  // an item queued during a run is sent by the next one
    again = false;
    clearTimeout(retryTimer);
    flushing = outbox.all().then(function (items) {
      var pending = items.filter(function (i) { return !i.failed; });
      if (!pending.length) { return null; }
      if (!navigator.onLine) { return "retry"; }
      return freshToken().then(function (session) {
        var token = session.csrf_token;
        signInNeeded = false;
        // only the session's own worker's items (outbox.all gives the remembered worker's: the same one)
        pending = pending.filter(function (i) { return i.user === session.user; });
        var chain = Promise.resolve(null);
        var stopped = null;
        pending.forEach(function (item) {
          chain = chain.then(function () {
            if (stopped) { return; }
            return sendOne(item, token).then(function (r) { if (r === "retry" || r === "stop") { stopped = r; } });
          });
        });
        return chain.then(function () { return stopped; });
      }, function (err) { if (err && err.signIn) { signInNeeded = true; return "stop"; } return "retry"; });
    }).then(function (outcome) {
      if (outcome === "retry") { later(); } else { failures = 0; }
    }, function () { later(); }).then(function () {
      flushing = null;
      if (again) { flushSoon(); }
      return changed();
    });
    return flushing;
  }

  // send until nothing of this worker's waits (a few runs, at most 8 s): used before signing out
  function drain(runs) {
    var deadline = new Promise(function (resolve) { setTimeout(resolve, 8000); });
    function again(n) {
      return flush().then(function () { return outbox.all(); }).then(function (items) {
        if (n > 1 && !signInNeeded && items.some(function (i) { return !i.failed; })) { return again(n - 1); }
        return null;
      });
    }
    return Promise.race([again(runs), deadline]);
  }

  // -- what the pages share ------------------------------------------------------------------------------------
  function updateBadge() {
    return outbox.all().then(function (items) {
      var badge = document.getElementById("badge");
      if (badge) { badge.textContent = String(items.length); badge.hidden = items.length === 0; }
      var net = document.getElementById("net");
      if (net) {
        net.textContent = signInNeeded ? T.sign_in : (navigator.onLine ? "" : T.offline);
        net.hidden = !net.textContent;
      }
      return items.length;
    }, function () { return 0; });
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      return r.json().then(function (b) { return { ok: r.ok, status: r.status, body: b }; },
        function () { return { ok: false, status: r.status, body: {} }; });
    }, function () { return { ok: false, status: 0, body: {} }; });
  }

  function position(options) {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
      navigator.geolocation.getCurrentPosition(resolve, reject, Object.assign({ enableHighAccuracy: true, timeout: 15000, maximumAge: 10000 }, options || {}));
    });
  }

  function metres(a, b) {  // great-circle distance of two [lon, lat] in metres
    var r = Math.PI / 180, dLat = (b[1] - a[1]) * r, dLon = (b[0] - a[0]) * r;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(a[1] * r) * Math.cos(b[1] * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function distanceText(m) {
    return m < 1000 ? fmt(T.metres, { m: Math.round(m) }) : fmt(T.km, { km: (m / 1000).toFixed(2) });
  }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === "text") { node.textContent = props[k]; } else if (k === "class") { node.className = props[k]; } else { node.setAttribute(k, props[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }

  function keepPages(urls) {  // ask the service worker to save pages for offline use
    if (navigator.serviceWorker && navigator.serviceWorker.controller && urls.length) {
      navigator.serviceWorker.controller.postMessage({ type: "keep", urls: urls });
    }
  }

  // the page-language half of a bilingual server message ("中文 English"), like web/i18n.py in_language
  var CJK = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef\u201c\u201d\u2018\u2019]/g;
  function oneLanguage(message) {
    var text = String(message || ""), last = -1, m;
    CJK.lastIndex = 0;
    while ((m = CJK.exec(text)) !== null) { last = m.index; }
    if (last < 0) { return text; }
    var chinese = text.slice(0, last + 1).trim(), english = text.slice(last + 1).replace(/^[\s:：;；,，]+/, "").trim();
    if (!/[A-Za-z]{2,}[\s\S]*\s[\s\S]*[A-Za-z]{2,}/.test(english) || !/[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/.test(chinese.charAt(0))) { return text; }
    return String(cfg.locale).indexOf("zh") === 0 ? chinese : english;
  }

  function can(permission) { return (cfg.permissions || []).indexOf(permission) >= 0; }

  window.WeigeApp = {
    cfg: cfg, T: T, fmt: fmt, uuid: uuid, isoNow: isoNow, data: data, outbox: outbox, flush: flush, getJson: getJson,
    position: position, metres: metres, distanceText: distanceText, el: el, keepPages: keepPages, badge: updateBadge,
    user: user, whoami: whoami, oneLanguage: oneLanguage, can: can
  };

  // signing out ends a running patrol (queued, and sent now if there is a connection), then forgets what the phone
  // kept for this worker (the next worker on this phone must not see it, nor be taken for this one)
  Array.prototype.forEach.call(document.querySelectorAll("form[data-sign-out]"), function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.cleared) { return; }
      ev.preventDefault();
      form.dataset.cleared = "1";
      var recorder = window.WeigeApp.recorder;
      var ended = recorder && recorder.running() ? recorder.stop() : Promise.resolve();
      ended.then(function () { return navigator.onLine ? drain(4) : null; })
        .then(function () { return forgetPhone(); })
        .then(function () { localStorage.removeItem(USER); form.submit(); }, function () { form.submit(); });
    });
  });

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(cfg.sw, { scope: cfg.home }).catch(function () { /* HTTP without TLS: no offline use */ });
  }
  window.addEventListener("online", function () { failures = 0; flush(); });
  window.addEventListener("offline", updateBadge);
  whoami().then(function () { updateBadge(); flush(); });
})();
