// Signing out deletes what the editor's service worker kept for offline use (the planner's areas): the next person
// on this browser must not find it. On a page with a sign-out form the deletion starts when it is submitted (the
// editor's worker is told too, so an answer still on its way is not kept); a page shown to nobody signed in (the
// sign-in page a sign-out lands on) deletes it again. Edits waiting in the outbox stay: they are keyed by planner and
// are only ever sent under that planner's session.
(function () {
  "use strict";
  function forget() {
    var worker = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (worker) { worker.postMessage({ type: "signout" }); }
    if (window.caches) { window.caches.delete("weige-editor-data").catch(function () { return null; }); }
  }
  var forms = document.querySelectorAll("form[data-signout]");
  if (!forms.length) { forget(); return; }
  Array.prototype.forEach.call(forms, function (form) { form.addEventListener("submit", forget); });
}());
