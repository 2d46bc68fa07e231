// The phone app's service worker (scope /app/): page shells, scripts, styles, Leaflet and icons are precached
// under a name made of their hashes; pages and map data come from the network first and from the cache offline.
"use strict";
var CACHE = "{{ cache }}";
var DATA = "weige-app-data";  // pages and API answers seen while online, for offline use
var PRECACHE = {{ precache }};
var OFFLINE = {{ offline }};
var SCOPE = {{ scope }};

{% include "app/_sw_releases.js" %}

// the newest copy first (what was seen online), then the precached one; a page's query string may differ
function fromCache(request, ignoreSearch) {
  var options = { ignoreVary: true, ignoreSearch: !!ignoreSearch };
  return caches.open(DATA).then(function (cache) { return cache.match(request, options); }).then(function (hit) {
    return hit || caches.match(request, options);
  });
}

function networkFirst(request, fallback) {
  return fetch(request).then(function (answer) {
    if (answer.ok && !answer.redirected && answer.type === "basic") {
      var copy = answer.clone();
      caches.open(DATA).then(function (cache) { cache.put(request, copy); });
    }
    return answer;
  }, function () {
    return fromCache(request).then(function (hit) { return hit || (fallback ? fallback() : Response.error()); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (url.pathname === SCOPE + "session" || url.pathname === SCOPE + "sw.js") { return; }  // always the network
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, function () {
      return fromCache(request, true).then(function (hit) { return hit || caches.match(OFFLINE, { ignoreVary: true }); });
    }));
  } else if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/vendor/") === 0) {
    event.respondWith(caches.match(request, { ignoreVary: true }).then(function (hit) { return hit || fetch(request); }));
  } else if (url.pathname.indexOf("/api/") === 0 || url.pathname.indexOf("/tiles/") === 0 || url.pathname.indexOf(SCOPE) === 0) {
    event.respondWith(networkFirst(request, offlineAnswer));
  }
});

// pages ask the worker to keep pages for offline use (e.g. the issues of the queue)
self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "keep" && Array.isArray(data.urls)) {
    var urls = data.urls.filter(function (u) { return typeof u === "string" && u.indexOf(SCOPE) === 0; });
    event.waitUntil(caches.open(DATA).then(function (cache) {
      return Promise.all(urls.map(function (u) {
        return fetch(u, { credentials: "same-origin" }).then(function (r) { if (r.ok && !r.redirected) { return cache.put(u, r); } }, function () {});
      }));
    }));
  }
});
