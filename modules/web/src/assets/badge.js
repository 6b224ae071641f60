// Badge sign-in: finds the workstation agent, opens a badge transaction,
// lets the agent relay the card (the agent waits for the tap), then asks
// for the PIN. Only the transaction id and token go to the agent; the PIN
// goes to Clavis only.
"use strict";
(function () {
  const box = document.getElementById("badge");
  if (!box) return;
  const agent = box.dataset.agent.replace(/\/$/, "");
  const status = document.getElementById("badge-status");
  const form = document.getElementById("badge-pin");
  const pin = document.getElementById("pin");
  const returnTo = box.dataset.returnTo || "/";
  let tx = null;
  let busy = false;

  const say = (text, isError) => {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  };

  async function json(url, body, opts) {
    const r = await fetch(url, Object.assign({
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    }, opts || {}));
    let data = {};
    try { data = await r.json(); } catch (e) { /* empty answer */ }
    return { ok: r.ok, status: r.status, data };
  }

  async function agentAlive() {
    try {
      const r = await fetch(agent + "/v1/status", { signal: AbortSignal.timeout(1500) });
      return r.ok;
    } catch (e) {
      return false;
    }
  }

  async function waitForBadge() {
    if (busy) return;
    busy = true;
    form.hidden = true;
    let retry = null;
    try {
      const opened = await json("/login/badge/start");
      if (!opened.ok) { say(box.dataset.failed, true); retry = 5000; return; }
      tx = opened.data;
      say(box.dataset.waiting, false);
      const read = await fetch(agent + "/v1/read", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ transaction: tx.transaction, token: tx.token }),
      }).then((r) => r.json()).catch(() => ({ outcome: "agent_unreachable" }));
      if (read.outcome === "done") {
        say(box.dataset.askPin, false);
        form.hidden = false;
        pin.value = "";
        pin.focus();
        return;
      }
      tx = null;
      if (read.outcome === "no_card") {
        retry = 0;
      } else {
        say(box.dataset.refused, true);
        retry = 2500;
      }
    } catch (e) {
      say(box.dataset.failed, true);
      retry = 5000;
    } finally {
      busy = false;
      if (retry !== null) setTimeout(waitForBadge, retry);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!tx) return;
    const r = await json("/login/badge/finish", {
      transaction: tx.transaction, token: tx.token, pin: pin.value, return_to: returnTo,
    });
    pin.value = "";
    if (r.ok && r.data.redirect) {
      if (r.data.notice) {
        // Someone else set this PIN: the holder reads it before going on.
        say(r.data.notice, true);
        form.hidden = true;
        const go = document.createElement("a");
        go.id = "badge-continue";
        go.href = r.data.redirect;
        go.textContent = r.data.continue;
        status.after(go);
        go.focus();
        return;
      }
      say(box.dataset.signedIn, false);
      window.location.assign(r.data.redirect);
      return;
    }
    const refusal = (r.data && r.data.error) || {};
    say(refusal.message || box.dataset.failed, true);
    if (refusal.code === "wrong_pin" || refusal.code === "pin_check_in_progress") { pin.focus(); return; }
    form.hidden = true;
    tx = null;
    setTimeout(waitForBadge, 3000);
  });

  agentAlive().then((alive) => {
    if (!alive) return;
    box.hidden = false;
    waitForBadge();
  });
})();
