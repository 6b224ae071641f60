// Clavis — the only script of the login pages: WebAuthn calls and the
// base64url conversions they need. No framework, no third-party code.
"use strict";
(function () {
  const b64u = {
    toBuf(s) {
      s = s.replace(/-/g, "+").replace(/_/g, "/");
      while (s.length % 4) s += "=";
      const bin = atob(s);
      return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
    },
    fromBuf(buf) {
      const bytes = new Uint8Array(buf);
      let bin = "";
      for (const b of bytes) bin += String.fromCharCode(b);
      return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };
  function creationOptions(o) {
    const pk = o.publicKey;
    pk.challenge = b64u.toBuf(pk.challenge);
    pk.user.id = b64u.toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => (c.id = b64u.toBuf(c.id)));
    return o;
  }
  function requestOptions(o) {
    const pk = o.publicKey;
    pk.challenge = b64u.toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => (c.id = b64u.toBuf(c.id)));
    return o;
  }
  function registration(cred) {
    return {
      id: cred.id,
      rawId: b64u.fromBuf(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        attestationObject: b64u.fromBuf(cred.response.attestationObject),
        clientDataJSON: b64u.fromBuf(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : [],
      },
    };
  }
  function assertion(cred) {
    return {
      id: cred.id,
      rawId: b64u.fromBuf(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        authenticatorData: b64u.fromBuf(cred.response.authenticatorData),
        clientDataJSON: b64u.fromBuf(cred.response.clientDataJSON),
        signature: b64u.fromBuf(cred.response.signature),
        userHandle: cred.response.userHandle ? b64u.fromBuf(cred.response.userHandle) : null,
      },
    };
  }
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
    return data;
  }
  function say(msg, isError) {
    const el = document.getElementById("status");
    if (el) {
      el.textContent = msg;
      el.className = isError ? "status error" : "status";
    }
  }
  async function login(form) {
    const username = (form.querySelector("[name=username]") || {}).value || null;
    const returnTo = (form.querySelector("[name=return_to]") || {}).value || "/me";
    say(form.dataset.waiting);
    try {
      const begin = await post("/login/begin", { username });
      const cred = await navigator.credentials.get(requestOptions(begin.options));
      const done = await post("/login/finish", { ceremony: begin.ceremony, credential: assertion(cred), return_to: returnTo });
      if (done.notice) {
        // Someone else set this person's badge PIN: they read it before going on.
        say(done.notice, true);
        form.hidden = true;
        const go = document.createElement("a");
        go.id = "login-continue";
        go.href = done.redirect;
        go.textContent = done.continue;
        document.getElementById("status").after(go);
        go.focus();
        return;
      }
      window.location.assign(done.redirect);
    } catch (e) {
      say(form.dataset.failed + " " + e.message, true);
    }
  }
  async function register(form) {
    const base = form.dataset.endpoint;
    const label = (form.querySelector("[name=label]") || {}).value || "";
    say(form.dataset.waiting);
    try {
      const begin = await post(base + "/begin", {});
      const cred = await navigator.credentials.create(creationOptions(begin.options));
      const done = await post(base + "/finish", { ceremony: begin.ceremony, credential: registration(cred), label });
      window.location.assign(done.redirect);
    } catch (e) {
      say(form.dataset.failed + " " + e.message, true);
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    for (const f of document.querySelectorAll("form[data-webauthn]")) {
      f.addEventListener("submit", (ev) => {
        ev.preventDefault();
        (f.dataset.webauthn === "login" ? login : register)(f);
      });
    }
  });
})();
