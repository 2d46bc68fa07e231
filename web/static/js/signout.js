// Signing out from any page deletes what the editor's service worker kept for offline use (the planner's areas):
// the next person on this browser must not find it. Edits waiting in the outbox stay (they are keyed by planner and
// are only ever sent under that planner's session).
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form[data-signout]"), function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.caches) { return; }
      ev.preventDefault();
      var done = function () { form.submit(); };
      var worker = navigator.serviceWorker && navigator.serviceWorker.controller;
      if (worker) { worker.postMessage({ type: "signout" }); }  // the editor's worker: also what is on its way
      window.caches.delete("weige-editor-data").then(done, done);
    });
  });
}());
