// Self-test of psc-op.mjs, the Pro Santé Connect stand-in: starts it as a
// child process (as the Rust integration tests do) and drives it the way a
// relying party and a cookie-keeping HTTP client would, with openid-client
// as an independent judge of the OpenID side. Prints "selftest ok" and exits
// 0 when everything holds.
//   node tests/e2e/psc-op-selftest.mjs      (DEBUG=1 to see psc-op's logs)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as client from "openid-client";
import * as jose from "jose";

const HERE = dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = "clavis-test";
const CLIENT_SECRET = "clavis-test-secret";
// Never contacted: the flows stop at the redirect that points there.
const REDIRECT_URI = "http://127.0.0.1:9/auth/psc/callback";
const POST_LOGOUT_URI = "http://127.0.0.1:9/auth/psc/logged-out";

const ACCOUNTS = [
  {
    id: "dr-lemoine", SubjectNameID: "810001045367", family_name: "LEMOINE", given_name: "CLAIRE", authMode: "CARD",
    otherIds: [{ identifiant: "10001045367", origine: "RPPS", qualite: 1 }],
  },
  {
    id: "sans-sni", SubjectNameID: "810002222222", family_name: "MARTIN", given_name: "PAUL", authMode: "CARD",
    otherIds: [{ identifiant: "10002222222", origine: "RPPS", qualite: 1 }], omit_SubjectNameID: true,
  },
  {
    id: "rpps-seul", SubjectNameID: "810003333333", family_name: "DURAND", given_name: "LUCIE", authMode: "EDIT",
    otherIds: [{ identifiant: "10003333333", origine: "RPPS", qualite: 1 }],
    omit_SubjectNameID: true, omit_preferred_username: true,
  },
];

const tmp = mkdtempSync(join(tmpdir(), "psc-op-selftest-"));
const accountsFile = join(tmp, "accounts.json");
writeFileSync(accountsFile, JSON.stringify(ACCOUNTS));

// ------------------------------------------------------------ child process
const children = new Set();
process.on("exit", () => { for (const c of children) c.kill("SIGKILL"); rmSync(tmp, { recursive: true, force: true }); });

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// Start psc-op and wait for its `ready <issuer>` line, as the Rust side does.
async function startOp(extraEnv) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(HERE, "psc-op.mjs")], {
    env: {
      ...process.env,
      PORT: String(port),
      CLIENT_ID,
      REDIRECT_URIS: REDIRECT_URI,
      POST_LOGOUT_REDIRECT_URIS: POST_LOGOUT_URI,
      ACCOUNTS: accountsFile,
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    if (process.env.DEBUG) process.stderr.write(d);
  });
  const lines = createInterface({ input: child.stdout });
  const stdout = [];
  const issuer = await new Promise((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`psc-op exited (${code}) before ready:\n${stderr}`)));
    lines.on("line", (line) => {
      stdout.push(line);
      const m = line.match(/^ready (\S+)$/);
      if (m) resolve(m[1]);
    });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    issuer,
    base,
    stdout,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", resolve);
      child.kill("SIGTERM");
    }).then(() => children.delete(child)),
  };
}

// ------------------------------------------------------------ cookie-keeping HTTP client
// What the Rust tests do with reqwest: a cookie jar (path-aware, since the
// interaction cookies are scoped to their paths) and redirects followed by hand.
class Browser {
  cookies = [];

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = "/";
      let expired = value === "";
      for (const attr of attrs) {
        const [k, v] = attr.split("=");
        if (/^path$/i.test(k)) path = v;
        if (/^expires$/i.test(k) && new Date(v) < new Date()) expired = true;
        if (/^max-age$/i.test(k) && Number(v) <= 0) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired) this.cookies.push({ name, value, path });
    }
  }

  cookieHeader(url) {
    const p = url.pathname;
    return this.cookies
      .filter((c) => p === c.path || p.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join("; ");
  }

  async fetch(url, init = {}) {
    url = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie) headers.set("cookie", cookie);
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    this.store(res);
    return res;
  }

  // Follow redirects until one points at `stopPrefix` (returned, not
  // fetched) or a non-redirect answer comes back.
  async follow(url, stopPrefix, init) {
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.fetch(url, init);
      init = undefined;
      if (res.status < 300 || res.status > 399) return { res, url: new URL(url) };
      await res.arrayBuffer();
      const next = new URL(res.headers.get("location"), url);
      if (next.href.startsWith(stopPrefix)) return { stoppedAt: next };
      url = next;
    }
    throw new Error("too many redirects");
  }

  postForm(url, fields) {
    return this.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

// ------------------------------------------------------------ RP helpers
// openid-client trusts an ID token fetched from the token endpoint without
// checking its signature (OpenID Connect allows that over TLS); the
// non-repudiation checks make it verify against the JWKS, which is what the
// signature misbehaviours are about.
const insecure = { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] };

// The last token endpoint response, captured so that a token openid-client
// rejected can still be examined.
function captureTokens(config) {
  const seen = { token: null };
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options);
    if (url.endsWith("/protocol/openid-connect/token")) seen.token = await res.clone().json();
    return res;
  };
  return seen;
}

// One authorization request, through the e-CPS page when there is no PSC
// session yet. Returns the callback URL plus what the RP must remember.
async function authorize(config, browser, { account, abort = false, wrongAccountFirst = false, params = {} } = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid scope_all",
    acr_values: "eidas1",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...params,
  });
  let step = await browser.follow(url, REDIRECT_URI);
  let sawLoginPage = false;
  if (!step.stoppedAt) {
    const { res, url: pageUrl } = step;
    assert.equal(res.status, 200, `expected the e-CPS page at ${pageUrl}`);
    assert.match(pageUrl.pathname, /^\/interaction\/[^/]+$/);
    const html = await res.text();
    assert.match(html, /<h1>Pro Santé Connect — banc de test<\/h1>/);
    assert.match(html, /<input[^>]*name="account"/);
    assert.match(html, /id="ecps-ok"[^>]*>Valider avec e-CPS</);
    assert.match(html, /id="ecps-cancel"[^>]*>Annuler</);
    const actions = [...html.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => new URL(m[1], pageUrl));
    const loginAction = actions.find((a) => a.pathname.endsWith("/login"));
    const abortAction = actions.find((a) => a.pathname.endsWith("/abort"));
    assert.ok(loginAction && abortAction, "login and abort forms");
    sawLoginPage = true;
    if (wrongAccountFirst) {
      const bad = await browser.postForm(loginAction, { account: "personne" });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /Identifiant inconnu/);
    }
    const posted = abort
      ? await browser.postForm(abortAction, {})
      : await browser.postForm(loginAction, { account });
    assert.equal(posted.status, 303, "the e-CPS form answers with a redirect");
    step = await browser.follow(new URL(posted.headers.get("location"), loginAction), REDIRECT_URI);
  }
  assert.ok(step.stoppedAt, `expected a redirect to the RP, got ${step.res?.status} at ${step.url}`);
  return { callback: step.stoppedAt, verifier, state, nonce, sawLoginPage };
}

function codeGrant(config, { callback, verifier, state, nonce }) {
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
}

async function getJson(url, init) {
  const res = await fetch(url, init);
  assert.equal(res.status, 200, `${url} answered ${res.status}`);
  return res.json();
}

const setBehaviour = async (op, body) => {
  const res = await fetch(`${op.base}/test/behaviour`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.clone().text());
};

const jwksOf = async (op) => getJson(`${op.issuer}/protocol/openid-connect/certs`);

// ------------------------------------------------------------ instance A
// RS256, client_secret_basic, JSON userinfo, wallet discovery only.
async function instanceA() {
  const op = await startOp({ CLIENT_SECRET, WALLET_DISCOVERY_ONLY: "1" });
  try {
    assert.equal(op.issuer, `${op.base}/auth/realms/esante-wallet`);

    // Discovery: PSC's path answers, the standard one does not.
    const std = await fetch(`${op.issuer}/.well-known/openid-configuration`);
    assert.equal(std.status, 404);
    const meta = await getJson(`${op.issuer}/.well-known/wallet-openid-configuration`);
    assert.equal(meta.issuer, op.issuer);
    const oidc = `${op.issuer}/protocol/openid-connect`;
    assert.equal(meta.authorization_endpoint, `${oidc}/auth`);
    assert.equal(meta.token_endpoint, `${oidc}/token`);
    assert.equal(meta.userinfo_endpoint, `${oidc}/userinfo`);
    assert.equal(meta.jwks_uri, `${oidc}/certs`);
    assert.equal(meta.end_session_endpoint, `${oidc}/logout`);
    assert.equal(meta.introspection_endpoint, `${oidc}/token/introspect`);
    assert.ok(meta.acr_values_supported.includes("eidas1"));
    assert.ok(meta.scopes_supported.includes("scope_all"));
    assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
    for (const alg of ["RS256", "ES256", "PS256"]) assert.ok(meta.id_token_signing_alg_values_supported.includes(alg));

    const jwks0 = await jwksOf(op);
    assert.deepEqual(jwks0.keys.map((k) => k.alg).sort(), ["ES256", "PS256", "RS256"]);
    assert.ok(jwks0.keys.every((k) => k.kid && !k.d), "public keys with kids");

    const config = await client.discovery(
      new URL(`${op.issuer}/.well-known/wallet-openid-configuration`), CLIENT_ID,
      { client_secret: CLIENT_SECRET, id_token_signed_response_alg: "RS256" },
      client.ClientSecretBasic(CLIENT_SECRET), insecure,
    );
    // A discovery URL given directly skips openid-client's issuer check: do it here.
    assert.equal(config.serverMetadata().issuer, op.issuer);
    const captured = captureTokens(config);

    // ---- the normal flow
    const nurse = new Browser();
    const auth = await authorize(config, nurse, { account: "dr-lemoine" });
    assert.ok(auth.sawLoginPage);
    assert.equal(auth.callback.searchParams.get("iss"), op.issuer);
    const tokens = await codeGrant(config, auth);
    assert.equal(tokens.expires_in, 120);
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    const idt = tokens.claims();
    assert.equal(jose.decodeProtectedHeader(tokens.id_token).alg, "RS256");
    assert.equal(idt.acr, "eidas1");
    assert.equal(idt.nonce, auth.nonce);
    assert.equal(idt.iss, op.issuer);
    assert.equal(idt.aud, CLIENT_ID);
    assert.equal(typeof idt.auth_time, "number");
    assert.equal(typeof idt.sid, "string");
    assert.match(idt.sub, /^f:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}:810001045367$/);
    assert.equal(idt.SubjectNameID, "810001045367");
    assert.equal(idt.preferred_username, "810001045367");
    assert.equal(idt.authMode, "CARD");
    assert.equal(idt.given_name, "CLAIRE");
    assert.equal(idt.family_name, "LEMOINE");
    assert.deepEqual(idt.otherIds, [{ identifiant: "10001045367", origine: "RPPS", qualite: 1 }]);

    const ui = await client.fetchUserInfo(config, tokens.access_token, idt.sub);
    assert.equal(ui.sub, idt.sub);
    assert.equal(ui.SubjectNameID, "810001045367");
    assert.equal(ui.preferred_username, "810001045367");
    assert.equal(ui.UITVersion, "1.0");
    assert.equal(ui.authMode, "CARD");
    assert.equal(ui.SubjectRefPro.exercices[0].nomDexercice, "LEMOINE");
    assert.ok(ui.SubjectRefPro.exercices[0].activities.length >= 1);
    const uiRaw = await fetch(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.match(uiRaw.headers.get("content-type"), /^application\/json/);

    // Introspection (Basic auth, as PSC documents it).
    const intro = await getJson(`${oidc}/token/introspect`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ token: tokens.access_token }).toString(),
    });
    assert.equal(intro.active, true);

    // What the RP sent, as logged for the Rust tests.
    const log = await getJson(`${op.base}/test/requests`);
    assert.deepEqual(log.authorize[0], {
      client_id: CLIENT_ID, response_type: "code", scope: "openid scope_all", acr_values: "eidas1",
      code_challenge_method: "S256", code_challenge: true, nonce: true, state: true, redirect_uri: REDIRECT_URI,
    });
    assert.equal(log.token[0].grant_type, "authorization_code");
    assert.equal(log.token[0].client_auth, "basic");
    assert.equal(log.token[0].code_verifier, true);
    assert.equal(log.token[0].status, 200);

    // ---- fallbacks for the national id, and a mistyped account first
    const other = new Browser();
    const a2 = await authorize(config, other, { account: "sans-sni", wrongAccountFirst: true });
    const c2 = (await codeGrant(config, a2)).claims();
    assert.equal(c2.SubjectNameID, undefined);
    assert.equal(c2.preferred_username, "810002222222");
    assert.match(c2.sub, /:810002222222$/);
    const a3 = await authorize(config, new Browser(), { account: "rpps-seul" });
    const t3 = await codeGrant(config, a3);
    const c3 = t3.claims();
    assert.equal(c3.SubjectNameID, undefined);
    assert.equal(c3.preferred_username, undefined);
    assert.deepEqual(c3.otherIds, [{ identifiant: "10003333333", origine: "RPPS", qualite: 1 }]);
    const ui3 = await client.fetchUserInfo(config, t3.access_token, c3.sub);
    assert.equal(ui3.SubjectNameID, undefined);
    assert.equal(ui3.preferred_username, undefined);

    // ---- misbehaviours, each on the nurse's PSC session (no login page)
    const rejects = async (kind, check) => {
      await setBehaviour(op, { id_token: kind });
      const a = await authorize(config, nurse);
      assert.equal(a.sawLoginPage, false);
      await assert.rejects(codeGrant(config, a), `openid-client must reject ${kind}`);
      const token = captured.token.id_token;
      await check(token, a);
      return token;
    };
    const jwks = jose.createLocalJWKSet(jwks0);
    const verifies = (token) => jose.jwtVerify(token, jwks, { clockTolerance: 7200 });

    await rejects("wrong_iss", async (t) => {
      const { payload } = await verifies(t);
      assert.notEqual(payload.iss, op.issuer);
    });
    await rejects("wrong_aud", async (t) => {
      const { payload } = await verifies(t);
      assert.equal(payload.aud, "another-client");
    });
    await rejects("wrong_nonce", async (t, a) => {
      const { payload } = await verifies(t);
      assert.notEqual(payload.nonce, a.nonce);
    });
    await rejects("expired", async (t) => {
      const { payload } = await verifies(t);
      const now = Math.floor(Date.now() / 1000);
      assert.ok(payload.exp <= now - 3600 + 5 && payload.iat <= now - 3600, "exp and iat an hour ago");
    });
    await rejects("unsigned", async (t) => {
      assert.equal(jose.decodeProtectedHeader(t).alg, "none");
      assert.ok(t.endsWith("."), "empty signature");
      assert.equal(jose.decodeJwt(t).SubjectNameID, "810001045367");
    });
    await rejects("bad_signature", async (t) => {
      assert.ok(jwks0.keys.some((k) => k.kid === jose.decodeProtectedHeader(t).kid), "the real kid");
      await assert.rejects(verifies(t), jose.errors.JWSSignatureVerificationFailed);
    });

    // A reset before use leaves the next response alone.
    await setBehaviour(op, { id_token: "wrong_iss" });
    await setBehaviour(op, {});
    await codeGrant(config, await authorize(config, nurse));

    // unknown_kid: a key rotation. The kid is not in the JWKS fetched
    // before, is in the one fetched after, and an RP that re-fetches (here
    // a fresh openid-client configuration) accepts the token.
    await setBehaviour(op, { id_token: "unknown_kid" });
    const fresh = await client.discovery(
      new URL(`${op.issuer}/.well-known/wallet-openid-configuration`), CLIENT_ID,
      { client_secret: CLIENT_SECRET }, client.ClientSecretBasic(CLIENT_SECRET), insecure,
    );
    const freshCaptured = captureTokens(fresh);
    const aRot = await authorize(fresh, nurse);
    const tRot = await codeGrant(fresh, aRot);
    const rotKid = jose.decodeProtectedHeader(tRot.id_token).kid;
    assert.equal(freshCaptured.token.id_token, tRot.id_token);
    assert.ok(!jwks0.keys.some((k) => k.kid === rotKid), "kid absent before");
    const jwks1 = await jwksOf(op);
    assert.ok(jwks1.keys.some((k) => k.kid === rotKid), "kid present after");
    await jose.jwtVerify(tRot.id_token, jose.createLocalJWKSet(jwks1));

    // national_id: same claims in ID token and the next userinfo, properly signed.
    await setBehaviour(op, { id_token: "national_id", value: "899999999990" });
    const tNat = await codeGrant(config, await authorize(config, nurse));
    assert.equal(tNat.claims().SubjectNameID, "899999999990");
    assert.equal(tNat.claims().preferred_username, "899999999990");
    const uiNat = await client.fetchUserInfo(config, tNat.access_token, tNat.claims().sub);
    assert.equal(uiNat.SubjectNameID, "899999999990");
    assert.equal(uiNat.preferred_username, "899999999990");
    const uiAfter = await client.fetchUserInfo(config, tNat.access_token, tNat.claims().sub);
    assert.equal(uiAfter.SubjectNameID, "810001045367", "one use only");

    // other_sub: userinfo for someone else.
    await setBehaviour(op, { userinfo: "other_sub" });
    const uiOther = await getJson(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${tNat.access_token}` } });
    assert.notEqual(uiOther.sub, tNat.claims().sub);
    await setBehaviour(op, { userinfo: "other_sub" });
    await assert.rejects(client.fetchUserInfo(config, tNat.access_token, tNat.claims().sub));

    const badBehaviour = await fetch(`${op.base}/test/behaviour`, { method: "POST", body: '{"id_token":"nonsense"}' });
    assert.equal(badBehaviour.status, 400);

    // ---- cancel at the e-CPS page
    const aAbort = await authorize(config, new Browser(), { abort: true });
    assert.equal(aAbort.callback.searchParams.get("error"), "access_denied");
    assert.equal(aAbort.callback.searchParams.get("state"), aAbort.state);
    await assert.rejects(codeGrant(config, aAbort), (err) => err.error === "access_denied");

    // ---- RP-initiated logout: straight back to the RP, no click.
    const logoutUrl = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: "etat-1",
    });
    const out = await nurse.follow(logoutUrl, POST_LOGOUT_URI);
    assert.ok(out.stoppedAt, `logout ended at ${out.res?.status} ${out.url}`);
    assert.equal(out.stoppedAt.searchParams.get("state"), "etat-1");
    // The PSC session is gone: the next authorization shows the e-CPS page.
    assert.ok((await authorize(config, nurse, { account: "dr-lemoine" })).sawLoginPage);
    // Without a PSC session, and with a hint signed by the rotated key.
    const out2 = await new Browser().follow(client.buildEndSessionUrl(config, {
      id_token_hint: tRot.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: "etat-2",
    }), POST_LOGOUT_URI);
    assert.ok(out2.stoppedAt, `logout without session ended at ${out2.res?.status} ${out2.url}`);
    assert.equal(out2.stoppedAt.searchParams.get("state"), "etat-2");
    const logouts = await getJson(`${op.base}/test/logouts`);
    assert.deepEqual(logouts[0], {
      id_token_hint: true, post_logout_redirect_uri: POST_LOGOUT_URI, state: "etat-1", client_id: CLIENT_ID,
    });
    assert.equal(logouts.length, 2);

    if (!process.env.DEBUG) assert.deepEqual(op.stdout, [`ready ${op.issuer}`], "nothing but the ready line on stdout");
  } finally {
    await op.stop();
  }
}

// ------------------------------------------------------------ instance B
// ES256 ID tokens, private_key_jwt, signed userinfo, standard discovery on.
async function instanceB() {
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256");
  const clientJwk = { ...(await jose.exportJWK(publicKey)), kid: "clavis-1", alg: "ES256", use: "sig" };
  const op = await startOp({
    CLIENT_AUTH: "private_key_jwt",
    CLIENT_JWKS: JSON.stringify({ keys: [clientJwk] }),
    ID_TOKEN_ALG: "ES256",
    USERINFO_SIGNED: "1",
  });
  try {
    // Standard discovery answers when WALLET_DISCOVERY_ONLY is not set, and
    // openid-client's own issuer check passes on it.
    const config = await client.discovery(
      new URL(op.issuer), CLIENT_ID,
      { id_token_signed_response_alg: "ES256", userinfo_signed_response_alg: "ES256" },
      client.PrivateKeyJwt(privateKey, { [client.modifyAssertion]: (h) => { h.kid = "clavis-1"; } }), insecure,
    );
    assert.ok(config.serverMetadata().userinfo_signing_alg_values_supported.includes("ES256"));
    const a = await authorize(config, new Browser(), { account: "dr-lemoine" });
    const t = await codeGrant(config, a);
    assert.equal(jose.decodeProtectedHeader(t.id_token).alg, "ES256");
    assert.equal(t.claims().acr, "eidas1");

    const ui = await client.fetchUserInfo(config, t.access_token, t.claims().sub);
    assert.equal(ui.SubjectNameID, "810001045367");
    const raw = await fetch(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${t.access_token}` } });
    assert.match(raw.headers.get("content-type"), /^application\/jwt/);
    const jwt = await raw.text();
    const jwks = jose.createLocalJWKSet(await jwksOf(op));
    const { payload, protectedHeader } = await jose.jwtVerify(jwt, jwks, { issuer: op.issuer, audience: CLIENT_ID });
    assert.equal(protectedHeader.alg, "ES256");
    assert.equal(payload.UITVersion, "1.0");

    // Misbehaviour on a signed userinfo: re-signed, still valid, altered.
    await setBehaviour(op, { userinfo: "other_sub" });
    const alteredRes = await fetch(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${t.access_token}` } });
    assert.match(alteredRes.headers.get("content-type"), /^application\/jwt/);
    const altered = await jose.jwtVerify(await alteredRes.text(), jwks);
    assert.notEqual(altered.payload.sub, t.claims().sub);

    const log = await getJson(`${op.base}/test/requests`);
    assert.equal(log.token[0].client_auth, "client_assertion");
    assert.equal(log.token[0].client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  } finally {
    await op.stop();
  }
}

// ------------------------------------------------------------ instance C
// PS256 ID tokens and signed userinfo with client_secret_basic.
async function instanceC() {
  const op = await startOp({ CLIENT_SECRET, ID_TOKEN_ALG: "PS256", USERINFO_SIGNED: "1" });
  try {
    const config = await client.discovery(
      new URL(`${op.issuer}/.well-known/wallet-openid-configuration`), CLIENT_ID,
      { client_secret: CLIENT_SECRET, id_token_signed_response_alg: "PS256", userinfo_signed_response_alg: "PS256" },
      client.ClientSecretBasic(CLIENT_SECRET), insecure,
    );
    const t = await codeGrant(config, await authorize(config, new Browser(), { account: "sans-sni" }));
    assert.equal(jose.decodeProtectedHeader(t.id_token).alg, "PS256");
    const ui = await client.fetchUserInfo(config, t.access_token, t.claims().sub);
    assert.equal(ui.preferred_username, "810002222222");
    assert.equal(ui.SubjectNameID, undefined);
  } finally {
    await op.stop();
  }
}

try {
  await instanceA();
  await instanceB();
  await instanceC();
  console.log("selftest ok");
} catch (err) {
  console.error(err);
  process.exitCode = 1;
}
