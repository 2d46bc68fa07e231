// Shared by the service workers (included by app/sw.js and editor_sw.js, which set CACHE, DATA and PRECACHE and are
// rendered with offline_message): precache every file under this release's name, delete the older releases' caches,
// and the answer for data never seen online.
self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(PRECACHE.map(function (url) { return new Request(url, { credentials: "same-origin", cache: "reload" }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  var prefix = CACHE.slice(0, CACHE.lastIndexOf("-") + 1);  // "weige-app-", "weige-editor-"
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(prefix) === 0 && name !== CACHE && name !== DATA;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

// data never seen online: a JSON error the pages show as "could not load" (and map tiles as empty)
function offlineAnswer() {
  var body = JSON.stringify({ error: { code: "offline", message: {{ offline_message }} } });
  return new Response(body, { status: 503, headers: { "Content-Type": "application/json" } });
}
