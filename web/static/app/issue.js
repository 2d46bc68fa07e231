// An issue's page: the steps I may take (chosen by the server with the staff pages' rule) go through the outbox,
// so a step taken offline is sent when the connection returns.
(function () {
  "use strict";
  var A = window.WeigeApp, T = A.T;
  var form = document.getElementById("act");
  if (!form) { return; }
  var status = document.getElementById("act-status");
  var issueId = parseInt(document.getElementById("issue").dataset.id, 10);
  var mine = {};
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var action = ev.submitter && ev.submitter.value;
    if (!action) { return; }
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
    A.outbox.add("action", { issue_id: issueId, action: action, note: form.note.value }).then(function (item) {
      mine[item.id] = true;
      status.className = "";
      status.textContent = navigator.onLine ? T.sending : T.queued;
    });
  });
  window.addEventListener("weige:sent", function (ev) {
    if (mine[ev.detail.item.id]) { location.reload(); }
  });
  window.addEventListener("weige:failed", function (ev) {
    if (!mine[ev.detail.item.id]) { return; }
    status.className = "error";
    status.textContent = T.failed + ": " + ev.detail.item.failed;
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = false; });
  });
})();
