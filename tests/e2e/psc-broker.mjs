// The broker side of Pro Santé Connect, for tests/e2e/psc-e2e.mjs: what
// PSC's Keycloak does when a professional picks the hospital's identity
// provider ("FI tiers"). Played by openid-client, an independent certified
// relying-party library, registered at Clavis as a client marked `psc`
// (`clavis client add … --psc`):
// - it sends the browser to Clavis's authorization endpoint (code flow,
//   PKCE S256, state, nonce), as PSC's broker would;
// - at its redirect URI it exchanges the code (client_secret_basic) and
//   verifies the ID token: openid-client's own checks (iss, aud, exp,
//   nonce, state) with its non-repudiation check (the signature by Clavis's
//   JWKS), and again with jose against the JWKS, independently;
// - at its back-channel logout URI it keeps the logout tokens Clavis posts
//   when a session ends; `logoutToken(sid)` verifies one with jose.
// Stateless towards the browser (no cookies): the scenario clears the
// stand-in's cookies, which share the host 127.0.0.1.
import * as client from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";
import http from "node:http";

// Where PSC's Keycloak gets its codes, in the shape of a Keycloak broker
// endpoint (`/auth/realms/<realm>/broker/<alias>/endpoint`).
export const CALLBACK_PATH = "/auth/realms/esante-wallet/broker/clavis-chu/endpoint";
// Where Clavis posts logout tokens.
export const BACKCHANNEL_PATH = "/auth/realms/esante-wallet/broker/clavis-chu/backchannel-logout";

export const BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout";

// Starts the broker on 127.0.0.1:`port` for Clavis at `issuer`.
export async function startBroker({ port, issuer, clientId, clientSecret }) {
  const base = `http://127.0.0.1:${port}`;
  const redirectUri = `${base}${CALLBACK_PATH}`;
  // Clavis holds each client to its registered method (client_secret_basic).
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
    execute: [client.allowInsecureRequests],
  });
  // ID tokens from the token endpoint are checked against the JWKS too.
  client.enableNonRepudiationChecks(config);
  const meta = config.serverMetadata();
  const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));

  const pending = new Map(); // state -> { verifier, nonce, resolve, promise }
  const logoutTokens = []; // raw JWTs, in order of arrival

  async function handleCallback(url) {
    const state = url.searchParams.get("state");
    const p = pending.get(state);
    if (!p) return { error: "unknown_state" };
    pending.delete(state);
    try {
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: p.verifier,
        expectedState: state,
        expectedNonce: p.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      // The same ID token, verified by another library against the JWKS.
      const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, {
        issuer,
        audience: clientId,
      });
      return { claims, verified: payload, header: protectedHeader, nonce: p.nonce, idToken: tokens.id_token };
    } catch (e) {
      // An error answer (access_denied…) arrives here as an
      // AuthorizationResponseError; anything else is a failed check.
      return { error: e.error ?? "verification_failed", description: e.error_description ?? e.message };
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, base);
    if (req.method === "POST" && url.pathname === BACKCHANNEL_PATH) {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const token = new URLSearchParams(body).get("logout_token");
        if (token) logoutTokens.push(token);
        res.writeHead(token ? 200 : 400, { "cache-control": "no-store" }).end();
      });
      return;
    }
    if (req.method === "GET" && url.pathname === CALLBACK_PATH) {
      const p = pending.get(url.searchParams.get("state"));
      handleCallback(url).then((outcome) => {
        p?.resolve(outcome);
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(`<!DOCTYPE html><title>PSC broker</title><p id="broker-done">${outcome.error ? "refused" : "ok"}</p>`);
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });

  return {
    meta,
    redirectUri,
    // A new request as PSC's broker sends it: `{ url, state, result }`,
    // where `result` resolves when the answer reached the redirect URI
    // (`{ claims, verified, header, nonce }` or `{ error, description }`).
    begin() {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      let resolve;
      const result = new Promise((r) => (resolve = r));
      pending.set(state, { verifier, nonce, resolve });
      return client.calculatePKCECodeChallenge(verifier).then((challenge) => ({
        state,
        result,
        url: client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: "openid",
          code_challenge: challenge,
          code_challenge_method: "S256",
          state,
          nonce,
        }).href,
      }));
    },
    // Whether the answer to `state` is at the redirect URI.
    isCallback(u) {
      return u.startsWith(redirectUri);
    },
    // Waits (until `deadlineMs`) for the logout token of session `sid`,
    // verifies it with jose against Clavis's JWKS and returns its payload
    // and header.
    async logoutToken(sid, deadlineMs) {
      for (;;) {
        for (const t of logoutTokens) {
          const { payload, protectedHeader } = await jwtVerify(t, jwks, {
            issuer,
            audience: clientId,
            typ: "logout+jwt",
          });
          if (payload.sid === sid) return { payload, header: protectedHeader };
        }
        if (Date.now() > deadlineMs) {
          throw new Error(`no logout token for sid ${sid} (received ${logoutTokens.length})`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    logoutTokenCount() {
      return logoutTokens.length;
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((r) => server.close(r));
    },
  };
}
