// Stand-in for Pro Santé Connect (PSC), the French national OpenID provider
// (a Keycloak realm), for the Rust integration tests where Clavis is a PSC
// relying party. Built on node oidc-provider and shaped like PSC as described
// in /work/shared/reference/psc-tech.md §1: Keycloak paths under
// /auth/realms/esante-wallet, discovery at the non-standard
// .well-known/wallet-openid-configuration, scope_all claims (SubjectNameID,
// otherIds, SubjectRefPro...), acr eidas1, 120 s access tokens, PKCE S256.
// The e-CPS login is a plain HTML form (no JavaScript) usable by headless
// Chromium and by a bare HTTP client with a cookie jar. Test-only endpoints
// (outside the issuer path) make the next token/userinfo response misbehave
// and log what the relying party sent.
//
// Environment:
//   PORT                       listen on 127.0.0.1:PORT
//   CLIENT_ID                  the one registered client (Clavis)
//   REDIRECT_URIS              comma-separated
//   POST_LOGOUT_REDIRECT_URIS  comma-separated, optional
//   CLIENT_AUTH                client_secret_basic (default, with CLIENT_SECRET)
//                              or private_key_jwt (with CLIENT_JWKS, a JSON JWK Set
//                              string of the client's public keys)
//   ID_TOKEN_ALG               RS256 (default), ES256 or PS256
//   USERINFO_SIGNED            1: userinfo answers application/jwt (same alg)
//   ACCOUNTS                   path to a JSON array of professionals:
//                              {id, SubjectNameID, family_name, given_name, authMode,
//                               otherIds?, omit_SubjectNameID?, omit_preferred_username?,
//                               SubjectRefPro? (replaces the generated one)}
//   WALLET_DISCOVERY_ONLY      1: <issuer>/.well-known/openid-configuration (and
//                              oauth-authorization-server) answer 404
//   TLS_CERT, TLS_KEY          PEM files: serve https (the issuer is then https://…)
//   TLS_CLIENT_CA              PEM CA file: the token endpoint demands a client
//                              certificate it signed (mTLS, as the ANS proof of
//                              concept does); other endpoints do not ask for one
//   DEBUG                      set: log requests and provider errors
// Stdout carries exactly one line, `ready <issuer>`, unless DEBUG is set.
//
// Test endpoints (not under the issuer):
//   POST /test/behaviour   JSON {id_token?: wrong_iss|wrong_aud|wrong_nonce|expired|
//                          unsigned|bad_signature|unknown_kid|national_id, value?,
//                          userinfo?: other_sub}; {} resets. id_token applies to the
//                          next token response carrying an ID token, userinfo to the
//                          next 200 userinfo response (national_id arms both).
//   GET  /test/requests    {authorize: [...], token: [...]} as sent by the RP
//   GET  /test/logouts     end_session requests received
//   DELETE /test/requests  forget the logged requests and logouts
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import Provider from "oidc-provider";
import {
  calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT,
} from "jose";

const env = process.env;
const DEBUG = Boolean(env.DEBUG);

// The Rust side reads stdout for the `ready` line only; oidc-provider prints
// its notices with console.info (stdout), so every console line goes to stderr.
console.log = console.info = console.error;
const debug = (...args) => { if (DEBUG) process.stdout.write(`${args.join(" ")}\n`); };

function fail(message) {
  console.error(`psc-op: ${message}`);
  process.exit(2);
}

const PORT = Number(env.PORT);
if (!PORT) fail("PORT is required");
if (!env.CLIENT_ID) fail("CLIENT_ID is required");
if (!env.REDIRECT_URIS) fail("REDIRECT_URIS is required");
if (!env.ACCOUNTS) fail("ACCOUNTS is required");

const REALM = "/auth/realms/esante-wallet";
const TLS = Boolean(env.TLS_CERT);
const ISSUER = `${TLS ? "https" : "http"}://127.0.0.1:${PORT}${REALM}`;
const OIDC = "/protocol/openid-connect";
const ROUTES = {
  authorization: `${OIDC}/auth`,
  token: `${OIDC}/token`,
  userinfo: `${OIDC}/userinfo`,
  jwks: `${OIDC}/certs`,
  end_session: `${OIDC}/logout`,
  introspection: `${OIDC}/token/introspect`,
};
const LOGOUT_CONFIRM = `${ROUTES.end_session}/confirm`;
const WALLET_DISCOVERY = "/.well-known/wallet-openid-configuration";
const STANDARD_DISCOVERY = "/.well-known/openid-configuration";

const ID_TOKEN_ALG = env.ID_TOKEN_ALG || "RS256";
if (!["RS256", "ES256", "PS256"].includes(ID_TOKEN_ALG)) fail(`unsupported ID_TOKEN_ALG ${ID_TOKEN_ALG}`);
const CLIENT_AUTH = env.CLIENT_AUTH || "client_secret_basic";
const USERINFO_SIGNED = env.USERINFO_SIGNED === "1";
const list = (s) => (s || "").split(",").map((x) => x.trim()).filter(Boolean);

// ---------------------------------------------------------------- keys
// PSC advertises RS/PS/ES algorithms; holding one key of each kind lets the
// Rust tests cover every verification path by restarting with ID_TOKEN_ALG.
// Keycloak kids are JWK thumbprints, so ours are too.
async function newSigningKey(alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    alg,
    kid,
    privateKey,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg, use: "sig" },
    publicJwk: { ...publicJwk, kid, alg, use: "sig" },
  };
}
const keys = {};
for (const alg of ["RS256", "ES256", "PS256"]) keys[alg] = await newSigningKey(alg);
const keysByKid = new Map(Object.values(keys).map((k) => [k.kid, k]));
// Keys "rotated in" by the unknown_kid behaviour: listed in the JWKS from then on.
const rotatedKeys = new Map();

// ---------------------------------------------------------------- accounts
let accounts;
try {
  accounts = JSON.parse(readFileSync(env.ACCOUNTS, "utf8"));
} catch (err) {
  fail(`cannot read ACCOUNTS ${env.ACCOUNTS}: ${err.message}`);
}
if (!Array.isArray(accounts)) fail("ACCOUNTS must hold a JSON array");

// idNat_PS: SubjectNameID, else "8" + RPPS number, as PSC derives it.
function nationalId(account) {
  if (account.SubjectNameID) return account.SubjectNameID;
  const rpps = (account.otherIds || []).find((o) => o.origine === "RPPS");
  return rpps ? `8${rpps.identifiant}` : account.id;
}

// Keycloak federated-storage subject: f:<provider uuid>:<national id>. The
// uuid is derived from the account id so that it is stable across restarts.
function keycloakSub(account) {
  const h = createHash("sha256").update(`psc-op:${account.id}`).digest("hex");
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  return `f:${uuid}:${nationalId(account)}`;
}

for (const a of accounts) {
  if (!a || typeof a.id !== "string") fail("every account needs a string id");
  a.sub = keycloakSub(a);
}
const accountById = new Map(accounts.map((a) => [a.id, a]));
const accountBySub = new Map(accounts.map((a) => [a.sub, a]));

// A plausible SubjectRefPro (psc-tech.md §1.5): one exercice, one hospital activity.
function subjectRefPro(a) {
  const blankAddress = Object.fromEntries([
    "complementDestinataire", "complementPointGeographique", "numeroVoie", "indiceRepetitionVoie",
    "codeTypeDeVoie", "libelleVoie", "mentionDistribution", "bureauCedex", "codePostal", "codeCommune",
    "codePays", "telephone", "telephone2", "telecopie", "adresseEMail", "codeDepartement",
  ].map((k) => [k, ""]));
  return {
    codeCivilite: "M",
    exercices: [{
      codeProfession: "10",
      codeCategorieProfessionnelle: "C",
      codeCiviliteDexercice: "DR",
      nomDexercice: a.family_name ?? "",
      prenomDexercice: a.given_name ?? "",
      codeTypeSavoirFaire: "S",
      codeSavoirFaire: "SM26",
      activities: [{
        codeModeExercice: "S",
        codeSecteurDactivite: "SA01",
        codeSectionPharmacien: "",
        codeRole: "",
        codeGenreActivite: "",
        numeroSiretSite: "",
        numeroSirenSite: "",
        numeroFinessSite: "0B0193488",
        numeroFinessetablissementJuridique: "1B0064166",
        identifiantTechniqueDeLaStructure: "F0B0193488",
        raisonSocialeSite: "HOPITAL GENERIQUE FIN VARI",
        ...blankAddress,
        ancienIdentifiantDeLaStructure: "10B0193488",
        autoriteDenregistrement: "CNOM/CNOM/ARS",
      }],
    }],
  };
}

function pscClaims(a, use) {
  const claims = {
    sub: a.sub,
    SubjectNameID: nationalId(a),
    preferred_username: nationalId(a),
    given_name: a.given_name,
    family_name: a.family_name,
    authMode: a.authMode ?? "CARD",
    otherIds: a.otherIds,
  };
  if (a.omit_SubjectNameID) delete claims.SubjectNameID;
  if (a.omit_preferred_username) delete claims.preferred_username;
  if (!a.otherIds) delete claims.otherIds;
  // The ID token stays compact; the full professional record is a userinfo thing.
  if (use === "userinfo") {
    claims.SubjectRefPro = a.SubjectRefPro ?? subjectRefPro(a);
    claims.UITVersion = "1.0";
  }
  return claims;
}

const SCOPE_ALL_CLAIMS = [
  "SubjectNameID", "preferred_username", "given_name", "family_name", "authMode", "otherIds",
  "SubjectRefPro", "UITVersion",
];

// ---------------------------------------------------------------- client
const client = {
  client_id: env.CLIENT_ID,
  redirect_uris: list(env.REDIRECT_URIS),
  post_logout_redirect_uris: list(env.POST_LOGOUT_REDIRECT_URIS),
  grant_types: ["authorization_code"],
  response_types: ["code"],
  token_endpoint_auth_method: CLIENT_AUTH,
  id_token_signed_response_alg: ID_TOKEN_ALG,
  // Keycloak always puts auth_time in the ID token.
  require_auth_time: true,
};
if (CLIENT_AUTH === "client_secret_basic") {
  if (!env.CLIENT_SECRET) fail("CLIENT_SECRET is required with client_secret_basic");
  client.client_secret = env.CLIENT_SECRET;
} else if (CLIENT_AUTH === "private_key_jwt") {
  try {
    client.jwks = JSON.parse(env.CLIENT_JWKS);
  } catch (err) {
    fail(`CLIENT_JWKS must be a JSON JWK Set: ${err.message}`);
  }
} else {
  fail(`unsupported CLIENT_AUTH ${CLIENT_AUTH}`);
}
if (USERINFO_SIGNED) client.userinfo_signed_response_alg = ID_TOKEN_ALG;

// ---------------------------------------------------------------- pages
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function page(title, body) {
  return `<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
<h1>Pro Santé Connect — banc de test</h1>
${body}
</body>
</html>`;
}

function loginPage(uid, error) {
  const known = accounts.map((a) => `<li><code>${esc(a.id)}</code> — ${esc(a.given_name)} ${esc(a.family_name)}</li>`).join("");
  return page("Connexion e-CPS", `
<p>Authentification par e-CPS (simulée).</p>
${error ? `<p id="ecps-error" role="alert">${esc(error)}</p>` : ""}
<form method="post" action="/interaction/${esc(uid)}/login">
  <label for="account">Identifiant du professionnel</label>
  <input type="text" id="account" name="account" autofocus required>
  <button type="submit" id="ecps-ok">Valider avec e-CPS</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit" id="ecps-cancel">Annuler</button>
</form>
<p>Comptes de test :</p>
<ul>${known}</ul>`);
}

// ---------------------------------------------------------------- provider
const provider = new Provider(ISSUER, {
  clients: [client],
  jwks: { keys: Object.values(keys).map((k) => k.privateJwk) },
  cookies: { keys: ["psc-op-banc-de-test-cookie-key"] },
  routes: ROUTES,
  scopes: ["openid", "scope_all", "profile", "email", "eidas1"],
  claims: {
    openid: ["sub"],
    scope_all: SCOPE_ALL_CLAIMS,
    profile: ["given_name", "family_name", "preferred_username"],
    email: ["email"],
    acr: null,
    sid: null,
    auth_time: null,
    iss: null,
  },
  // Put the scope_all claims in the ID token as well as in userinfo, so the
  // RP can read either (oidc-provider otherwise keeps them for userinfo only).
  conformIdTokenClaims: false,
  acrValues: ["eidas1"],
  clientAuthMethods: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
  pkce: { required: () => true },
  ttl: {
    AccessToken: 120, // every PSC sample seen: exp - iat = 120
    IdToken: 120, // Keycloak gives ID tokens the access token lifespan
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 4 * 3600,
    Grant: 4 * 3600,
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true, allowedPolicy: async () => true },
    jwtUserinfo: { enabled: true },
    resourceIndicators: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // Never shown: the middleware below turns the confirmation into a redirect.
      logoutSource: async (ctx, form) => { ctx.body = page("Déconnexion", form); },
      postLogoutSuccessSource: async (ctx) => { ctx.body = page("Déconnexion", "<p>Vous êtes déconnecté.</p>"); },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  clientBasedCORS: () => false,
  renderError: async (ctx, out) => {
    ctx.type = "html";
    ctx.body = page("Erreur", Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong> : <span class="${esc(k)}">${esc(v)}</span></p>`).join(""));
  },
  findAccount: async (ctx, sub) => {
    const account = accountBySub.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async (use) => pscClaims(account, use) };
  },
  // No consent page at PSC for a registered service: the grant covers
  // openid scope_all and whatever else was asked. The session's grant is
  // reused (and widened) rather than replaced, because a new grant would
  // revoke the codes of flows still in flight.
  loadExistingGrant: async (ctx) => {
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const grant = (grantId && (await Grant.find(grantId)))
      || new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope([...new Set(["openid", "scope_all", ...ctx.oidc.requestParamOIDCScopes])].join(" "));
    const claims = [...ctx.oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
// Keycloak always puts sid in the ID token; oidc-provider only does so for
// clients registered for back-channel logout (Client#includeSid), which
// would make it POST logout tokens at Clavis. Widen that one predicate.
provider.Client.prototype.includeSid = () => true;

provider.on("server_error", (ctx, err) => console.error("psc-op server_error", err));
if (DEBUG) {
  for (const ev of ["authorization.error", "grant.error", "userinfo.error", "end_session.error",
    "end_session_confirm.error", "introspection.error", "discovery.error", "jwks.error"]) {
    provider.on(ev, (ctx, err) => console.error(ev, err.message, err.error_description ?? "", err.error_detail ?? ""));
  }
}

// ---------------------------------------------------------------- test state
const empty = () => ({ idToken: null, userinfo: null });
let behaviour = empty(); // consumed once per response kind
const requestLog = { authorize: [], token: [] };
const logoutLog = [];
const ID_TOKEN_BEHAVIOURS = new Set(["wrong_iss", "wrong_aud", "wrong_nonce", "expired", "unsigned",
  "bad_signature", "unknown_kid", "national_id"]);
const USERINFO_BEHAVIOURS = new Set(["other_sub"]);

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);
const sign = (payload, header, key) => new SignJWT(payload).setProtectedHeader(header).sign(key);

function setNationalId(claims, value) {
  if ("SubjectNameID" in claims) claims.SubjectNameID = value;
  if ("preferred_username" in claims) claims.preferred_username = value;
}

// Re-sign an oidc-provider JWT (ID token or userinfo) after changing it as
// the behaviour asks; header kid/alg are kept unless the behaviour is about them.
async function alterJwt(jwt, kind, value) {
  const header = decodeProtectedHeader(jwt);
  const claims = decodeJwt(jwt);
  const own = keysByKid.get(header.kid);
  switch (kind) {
    case "wrong_iss":
      claims.iss = `http://127.0.0.1:${PORT}/auth/realms/another-realm`;
      return sign(claims, header, own.privateKey);
    case "wrong_aud":
      claims.aud = "another-client";
      if (claims.azp) claims.azp = "another-client";
      return sign(claims, header, own.privateKey);
    case "wrong_nonce":
      claims.nonce = `not-${claims.nonce ?? "the-nonce"}`;
      return sign(claims, header, own.privateKey);
    case "expired":
      claims.iat = now() - 3600 - 120;
      claims.exp = now() - 3600;
      return sign(claims, header, own.privateKey);
    case "unsigned":
      return `${b64url({ alg: "none", ...(header.typ ? { typ: header.typ } : {}) })}.${b64url(claims)}.`;
    case "bad_signature": {
      const stranger = await newSigningKey(header.alg);
      return sign(claims, header, stranger.privateKey);
    }
    case "unknown_kid": {
      // A key rotation at PSC: the JWKS lists the new key from now on.
      const fresh = await newSigningKey(header.alg);
      rotatedKeys.set(fresh.kid, fresh);
      return sign(claims, { ...header, kid: fresh.kid }, fresh.privateKey);
    }
    case "national_id":
      setNationalId(claims, value);
      return sign(claims, header, own.privateKey);
    case "other_sub":
      claims.sub = "f:00000000-0000-4000-8000-000000000000:899999999999";
      return sign(claims, header, own.privateKey);
    default:
      throw new Error(`unknown behaviour ${kind}`);
  }
}

async function readBody(req, limit = 64 * 1024) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error("body too large");
  }
  return body;
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = "application/json";
  ctx.body = body;
}

// oidc-provider derives its URLs' mount path from req.originalUrl versus
// req.url, so every rewrite of the URL has to keep the two consistent.
function rewriteUrl(ctx, url) {
  ctx.url = url;
  ctx.req.originalUrl = `${REALM}${url}`;
}

// ---------------------------------------------------------------- middleware
// Mount the provider under the realm path (its routes are relative to it),
// and answer PSC's discovery path with oidc-provider's discovery document.
provider.use(async (ctx, next) => {
  debug(ctx.method, ctx.url);
  if (ctx.path === REALM || ctx.path.startsWith(`${REALM}/`)) {
    const inner = ctx.url.slice(REALM.length) || "/";
    const innerPath = ctx.path.slice(REALM.length) || "/";
    if (innerPath === WALLET_DISCOVERY) {
      rewriteUrl(ctx, STANDARD_DISCOVERY);
    } else if (env.WALLET_DISCOVERY_ONLY === "1"
      && (innerPath === STANDARD_DISCOVERY || innerPath === "/.well-known/oauth-authorization-server")) {
      json(ctx, 404, { error: "not_found", error_description: "PSC publishes its metadata at .well-known/wallet-openid-configuration" });
      return;
    } else {
      rewriteUrl(ctx, inner);
    }
  }
  await next();
});

// The e-CPS login step.
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
  if (!m) return next();
  const [, uid, action] = m;
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) throw new Error("uid mismatch");
  } catch {
    ctx.status = 400;
    ctx.type = "html";
    ctx.body = page("Session expirée", "<p>Cette demande de connexion est inconnue ou a expiré.</p>");
    return;
  }
  if (ctx.method === "GET" && !action) {
    ctx.type = "html";
    ctx.body = loginPage(uid);
    return;
  }
  if (ctx.method !== "POST" || !action) {
    ctx.status = 405;
    return;
  }
  const form = new URLSearchParams(await readBody(ctx.req));
  let result;
  if (action === "abort") {
    result = { error: "access_denied", error_description: "L'utilisateur a annulé l'authentification e-CPS" };
  } else {
    const account = accountById.get((form.get("account") || "").trim());
    if (!account) {
      ctx.status = 400;
      ctx.type = "html";
      ctx.body = loginPage(uid, "Identifiant inconnu : vérifiez l'identifiant saisi.");
      return;
    }
    result = { login: { accountId: account.sub, acr: "eidas1", remember: true } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.respond = false;
});

// Test-only endpoints.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith("/test/")) return next();
  if (ctx.path === "/test/behaviour" && ctx.method === "POST") {
    let body;
    try {
      const raw = await readBody(ctx.req);
      body = raw.trim() ? JSON.parse(raw) : {};
    } catch (err) {
      return json(ctx, 400, { error: `invalid JSON: ${err.message}` });
    }
    const next_ = empty();
    if (body.id_token !== undefined) {
      if (!ID_TOKEN_BEHAVIOURS.has(body.id_token)) return json(ctx, 400, { error: `unknown id_token behaviour ${body.id_token}` });
      if (body.id_token === "national_id" && typeof body.value !== "string") return json(ctx, 400, { error: "national_id needs a string value" });
      next_.idToken = { kind: body.id_token, value: body.value };
      // The replaced national id must agree across ID token and userinfo.
      if (body.id_token === "national_id") next_.userinfo = { nationalId: body.value };
    }
    if (body.userinfo !== undefined) {
      if (!USERINFO_BEHAVIOURS.has(body.userinfo)) return json(ctx, 400, { error: `unknown userinfo behaviour ${body.userinfo}` });
      next_.userinfo = { ...next_.userinfo, kind: body.userinfo };
    }
    behaviour = next_;
    return json(ctx, 200, { id_token: behaviour.idToken, userinfo: behaviour.userinfo });
  }
  if (ctx.path === "/test/requests" && ctx.method === "GET") return json(ctx, 200, requestLog);
  if (ctx.path === "/test/logouts" && ctx.method === "GET") return json(ctx, 200, logoutLog);
  if (ctx.path === "/test/requests" && ctx.method === "DELETE") {
    requestLog.authorize.length = 0;
    requestLog.token.length = 0;
    logoutLog.length = 0;
    return json(ctx, 200, {});
  }
  return json(ctx, 404, { error: "not_found" });
});

// What the RP sent to the authorization endpoint.
provider.use(async (ctx, next) => {
  if (ctx.path === ROUTES.authorization) {
    const q = ctx.method === "GET" ? ctx.query : {};
    requestLog.authorize.push({
      client_id: q.client_id,
      response_type: q.response_type,
      scope: q.scope,
      acr_values: q.acr_values,
      code_challenge_method: q.code_challenge_method,
      code_challenge: Boolean(q.code_challenge),
      nonce: Boolean(q.nonce),
      state: Boolean(q.state),
      redirect_uri: q.redirect_uri,
      prompt: q.prompt,
      max_age: q.max_age,
    });
  }
  await next();
});

// Token endpoint: log what the RP sent, then alter the ID token if asked.
provider.use(async (ctx, next) => {
  if (ctx.path !== ROUTES.token || ctx.method !== "POST") return next();
  const clientCert = Boolean(ctx.req.socket.authorized);
  if (env.TLS_CLIENT_CA && !clientCert) {
    requestLog.token.push({ client_cert: false, status: 401, error: "invalid_client" });
    ctx.status = 401;
    ctx.body = { error: "invalid_client", error_description: "a TLS client certificate is required" };
    return;
  }
  try {
    await next();
  } finally {
    const body = ctx.oidc?.body ?? {};
    const authz = ctx.get("authorization");
    let clientAuth = "none";
    if (/^basic /i.test(authz)) clientAuth = "basic";
    else if (body.client_assertion_type) clientAuth = "client_assertion";
    else if (body.client_secret) clientAuth = "client_secret_post";
    requestLog.token.push({
      client_cert: clientCert,
      grant_type: body.grant_type,
      client_auth: clientAuth,
      client_assertion_type: body.client_assertion_type,
      client_id: body.client_id,
      code_verifier: Boolean(body.code_verifier),
      redirect_uri: body.redirect_uri,
      status: ctx.status,
      error: ctx.body?.error,
    });
  }
  if (ctx.status === 200 && ctx.body?.id_token && behaviour.idToken) {
    const { kind, value } = behaviour.idToken;
    behaviour.idToken = null;
    ctx.body.id_token = await alterJwt(ctx.body.id_token, kind, value);
    debug("id_token altered:", kind);
  }
});

// Userinfo: alter the (JSON or JWT) answer if asked.
provider.use(async (ctx, next) => {
  if (ctx.path !== ROUTES.userinfo) return next();
  await next();
  if (ctx.status !== 200 || !behaviour.userinfo) return;
  const { kind, nationalId: nid } = behaviour.userinfo;
  behaviour.userinfo = null;
  if (typeof ctx.body === "string") {
    let jwt = ctx.body;
    if (nid !== undefined) jwt = await alterJwt(jwt, "national_id", nid);
    if (kind) jwt = await alterJwt(jwt, kind);
    ctx.body = jwt; // keeps the application/jwt type set by oidc-provider
  } else {
    if (nid !== undefined) setNationalId(ctx.body, nid);
    if (kind === "other_sub") ctx.body.sub = "f:00000000-0000-4000-8000-000000000000:899999999999";
  }
  debug("userinfo altered:", kind ?? "national_id");
});

// JWKS: add the keys rotated in by unknown_kid.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === ROUTES.jwks && ctx.status === 200 && rotatedKeys.size) {
    ctx.body = { keys: [...ctx.body.keys, ...[...rotatedKeys.values()].map((k) => k.publicJwk)] };
  }
});

// RP-initiated logout without a confirmation click. oidc-provider answers
// the logout request with a confirmation form (or, without a session, an
// auto-submitting one) that POSTs an xsrf token to .../logout/confirm. A
// bare HTTP client cannot submit it, so the form is turned into a 303 to
// .../logout/confirm?xsrf=..., and that GET is fed to oidc-provider's
// confirm route as the POST it expects. The end is oidc-provider's own:
// session destroyed, 303 to post_logout_redirect_uri?state=...
provider.use(async (ctx, next) => {
  if (ctx.path === ROUTES.end_session && ctx.method === "GET") {
    const q = new URLSearchParams(ctx.querystring);
    logoutLog.push({
      id_token_hint: q.has("id_token_hint"),
      post_logout_redirect_uri: q.get("post_logout_redirect_uri") ?? undefined,
      state: q.get("state") ?? undefined,
      client_id: q.get("client_id") ?? undefined,
    });
    // A hint signed with a key rotated in by unknown_kid is genuine for the
    // RP but unknown to oidc-provider's keystore: re-sign it with ours.
    const hint = q.get("id_token_hint");
    if (hint) {
      let header;
      try { header = decodeProtectedHeader(hint); } catch { /* let oidc-provider reject it */ }
      if (header && rotatedKeys.has(header.kid)) {
        const own = keys[header.alg];
        q.set("id_token_hint", await sign(decodeJwt(hint), { ...header, kid: own.kid }, own.privateKey));
        rewriteUrl(ctx, `${ctx.path}?${q}`);
      }
    }
    await next();
    const secret = ctx.oidc?.session?.state?.secret;
    if (ctx.status === 200 && secret) {
      ctx.status = 303;
      ctx.redirect(`${REALM}${LOGOUT_CONFIRM}?${new URLSearchParams({ xsrf: secret })}`);
    }
    return;
  }
  if (ctx.path === LOGOUT_CONFIRM && ctx.method === "GET") {
    // A GET has no body to read; drain it so that oidc-provider takes
    // req.body instead of the stream.
    await readBody(ctx.req);
    ctx.req.body = { xsrf: ctx.query.xsrf ?? "", logout: "yes" };
    ctx.req.headers["content-type"] = "application/x-www-form-urlencoded";
    ctx.req.headers["content-length"] = "0";
    ctx.method = "POST";
  }
  await next();
});

// ---------------------------------------------------------------- listen
// With TLS_CLIENT_CA a client certificate is asked for on every
// connection but verified only where it matters (the token endpoint).
const server = TLS
  ? createTlsServer({
      cert: readFileSync(env.TLS_CERT),
      key: readFileSync(env.TLS_KEY),
      ca: env.TLS_CLIENT_CA ? readFileSync(env.TLS_CLIENT_CA) : undefined,
      requestCert: Boolean(env.TLS_CLIENT_CA),
      rejectUnauthorized: false,
    }, provider.callback())
  : createServer(provider.callback());
server.on("error", (err) => fail(`cannot listen on 127.0.0.1:${PORT}: ${err.message}`));
server.listen(PORT, "127.0.0.1", () => process.stdout.write(`ready ${ISSUER}\n`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
