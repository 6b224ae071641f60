// End-to-end test of the OpenID provider with an independent, certified
// relying-party library (openid-client) and real headless Chromium signed
// in with a virtual FIDO2 key. Driven by tests/it/browser.rs, which starts
// `clavis serve`, registers this RP with `clavis client add`, and passes:
//   BASE_URL, ENROL_URL, RP_PORT, CLIENT_ID, CLIENT_SECRET
// Steps: discovery; authorization with PKCE (the browser signs in on the
// way); token exchange with ID-token validation against the JWKS;
// userinfo; refresh; RP-initiated logout; back-channel logout received by
// this script's own endpoint and verified. Exits 0 when all passed.
import { chromium } from "playwright-core";
import * as client from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";
import http from "node:http";

const env = process.env;
const base = env.BASE_URL;
const rp = `http://127.0.0.1:${env.RP_PORT}`;
const step = (name) => console.log(`step: ${name}`);
function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

// The RP's own endpoints: the callback page and the back-channel receiver.
const logoutTokens = [];
const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/backchannel") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      logoutTokens.push(new URLSearchParams(body).get("logout_token"));
      res.writeHead(200).end();
    });
    return;
  }
  res.writeHead(200, { "content-type": "text/html" }).end("<p>rp</p>");
});
await new Promise((r) => server.listen(Number(env.RP_PORT), "127.0.0.1", r));

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  step("discovery");
  // The client was registered with client_secret_basic (Clavis's default),
  // and Clavis holds each client to its registered method.
  const config = await client.discovery(new URL(base), env.CLIENT_ID, undefined, client.ClientSecretBasic(env.CLIENT_SECRET), {
    execute: [client.allowInsecureRequests],
  });
  const meta = config.serverMetadata();
  expect(meta.issuer === base, "issuer");
  expect(meta.code_challenge_methods_supported.includes("S256"), "S256 advertised");

  const context = await browser.newContext({ locale: "fr-FR" });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "usb", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  step("enrol a key");
  await page.goto(env.ENROL_URL);
  await page.getByLabel("Nom de la clé").fill("Clé");
  await page.getByRole("button", { name: "Enregistrer la clé" }).click();
  await page.waitForURL(/\/login/, { timeout: 15000 });

  step("authorization with PKCE: the browser signs in on the way");
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: `${rp}/cb`,
    scope: "openid profile rpps roles",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    nonce,
  });
  await page.goto(authUrl.href);
  expect(page.url().startsWith(`${base}/login`), "no session yet: the login page");
  await page.getByRole("button", { name: "Se connecter avec ma clé de sécurité" }).click();
  await page.waitForURL(/127\.0\.0\.1.*\/cb/, { timeout: 15000 });

  step("token exchange and ID-token validation");
  const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  expect(claims.iss === base && claims.aud === env.CLIENT_ID, "iss and aud");
  expect(Array.isArray(claims.amr) && claims.amr.includes("hwk"), "amr from the FIDO2 login");
  expect(typeof claims.sid === "string" && claims.sid.length > 0, "sid");
  expect(claims.family_name === "Lemoine", "names");

  step("userinfo");
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  expect(info.sub === claims.sub && info.given_name === "Claire", "userinfo matches");

  step("a second application signs in at once with the session");
  const state2 = client.randomState();
  const v2 = client.randomPKCECodeVerifier();
  await page.goto(
    client.buildAuthorizationUrl(config, {
      redirect_uri: `${rp}/cb`,
      scope: "openid",
      code_challenge: await client.calculatePKCECodeChallenge(v2),
      code_challenge_method: "S256",
      state: state2,
      prompt: "none",
    }).href,
  );
  await page.waitForURL(/127\.0\.0\.1.*\/cb/, { timeout: 15000 });
  expect(new URL(page.url()).searchParams.get("code"), "prompt=none answered with a code");

  step("refresh");
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  expect(refreshed.access_token && refreshed.access_token !== tokens.access_token, "new access token");
  expect(refreshed.refresh_token !== tokens.refresh_token, "refresh token rotated");

  step("RP-initiated logout");
  const endUrl = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: `${rp}/bye`,
    state: "bye-state",
  });
  await page.goto(endUrl.href);
  await page.waitForURL(/127\.0\.0\.1.*\/bye/, { timeout: 15000 });
  expect(new URL(page.url()).searchParams.get("state") === "bye-state", "state returned");

  step("back-channel logout received and verified");
  const deadline = Date.now() + 20000;
  while (logoutTokens.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(logoutTokens.length >= 1, "a logout token arrived");
  const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(logoutTokens[0], jwks, { issuer: base, audience: env.CLIENT_ID });
  expect(protectedHeader.typ === "logout+jwt", "typ logout+jwt");
  expect(payload.sid === claims.sid && payload.sub === claims.sub, "same sid and sub");
  expect(payload.events && payload.events["http://schemas.openid.net/event/backchannel-logout"], "logout event");
  expect(payload.nonce === undefined, "no nonce");

  step("the refresh token died with the session");
  let refused = false;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
  } catch (e) {
    refused = e.error === "invalid_grant";
  }
  expect(refused, "refresh after logout answers invalid_grant");
  console.log("e2e oidc: all steps passed");
} finally {
  await browser.close();
  server.close();
}
