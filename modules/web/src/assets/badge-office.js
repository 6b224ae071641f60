// Badge office: waits for the enrolment workstation's agent to encode the
// card, then shows the holder's PIN form.
"use strict";
(function () {
  const status = document.getElementById("enrolment-status");
  const form = document.getElementById("holder-pin");
  if (!status || !form) return;
  async function poll() {
    let s = { status: "open" };
    try {
      const r = await fetch(status.dataset.statusUrl, { credentials: "same-origin" });
      if (r.ok) s = await r.json();
    } catch (e) { /* retry */ }
    if (s.status === "done") {
      status.textContent = status.dataset.done;
      form.hidden = false;
      document.getElementById("pin").focus();
      return;
    }
    if (s.status === "failed" || s.status === "expired") {
      status.textContent = status.dataset.failed;
      status.classList.add("error");
      return;
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
