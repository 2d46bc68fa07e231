// The editor's service worker (scope /editor): its scripts, styles and the vendored Leaflet and Geoman are precached
// under a name made of their hashes; the page and the editor API's answers come from the network first and, offline,
// from the copy seen online. Signing out deletes the copies (static/js/signout.js: they are the planner's data).
"use strict";
var CACHE = "{{ cache }}";
var DATA = "weige-editor-data";
var PRECACHE = {{ precache }};
var SCOPE = {{ scope }};
var SESSION = {{ session }};
var MAX_AGE_MS = {{ max_age_ms }};  // copies older than this are not shown (a session that ended without signing out)

{% include "app/_sw_releases.js" %}

var signOuts = 0;  // an answer that arrives after a sign-out is not kept (the page may be gone)
self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "signout") { signOuts += 1; event.waitUntil(caches.delete(DATA)); }
});

function networkFirst(request, fallback) {
  var asked = signOuts;
  return fetch(request).then(function (answer) {
    if (!answer.ok || answer.redirected || answer.type !== "basic" || asked !== signOuts) { return answer; }
    var copy = answer.clone(), headers = new Headers(copy.headers);
    headers.set("X-Weige-Kept", String(Date.now()));  // when it was kept: older copies are not shown
    var kept = new Response(copy.body, { status: copy.status, statusText: copy.statusText, headers: headers });
    return caches.open(DATA).then(function (cache) { return cache.put(request, kept); }).then(function () {
      return asked === signOuts ? answer : caches.delete(DATA).then(function () { return answer; });
    }).catch(function () { return answer; });
  }, function () {
    return caches.open(DATA).then(function (cache) { return cache.match(request, { ignoreVary: true }); }).then(function (hit) {
      var kept = hit && Number(hit.headers.get("X-Weige-Kept"));
      return hit && kept && Date.now() - kept < MAX_AGE_MS ? hit : fallback();
    });
  });
}

function offlinePage() {
  var text = {{ offline_message }};
  var body = "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><title>" + text +
    "</title><p style='font: 16px sans-serif; padding: 16px'>" + text + "</p>";
  return new Response(body, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method !== "GET" || url.pathname === SESSION) { return; }
  if (request.mode === "navigate") {
    if (url.pathname === SCOPE) { event.respondWith(networkFirst(request, offlinePage)); }
  } else if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/vendor/") === 0) {
    event.respondWith(caches.match(request, { ignoreVary: true }).then(function (hit) { return hit || fetch(request); }));
  } else if (url.pathname.indexOf("/api/") === 0) {
    event.respondWith(networkFirst(request, offlineAnswer));
  }
});
