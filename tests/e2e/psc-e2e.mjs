// Pro Santé Connect end to end, in real headless Chromium with a virtual
// FIDO2 key, against the real `clavis serve`, the PSC stand-in
// (tests/e2e/psc-op.mjs, its e-CPS page) and PSC's broker played by
// openid-client (tests/e2e/psc-broker.mjs). Driven by
// tests/it/psc_browser.rs, which starts Clavis and the stand-in, and passes:
//   BASE_URL        Clavis (its issuer)
//   ENROL_URL       the nurse's enrolment link (first key)
//   STANDIN_URL     the stand-in's origin (http://127.0.0.1:PORT)
//   BROKER_PORT     where the broker listens (registered at Clavis)
//   CLIENT_ID, CLIENT_SECRET   the broker, a Clavis client marked psc
//   TID             [psc] tid
//   AMR_FIDO2       [psc.amr] fido2, as JSON
//   ACR_FIDO2       the acr of a FIDO2 session
//   NURSE_OID, NATIONAL_ID     the nurse, and "8" + her RPPS
//   PSC_ACCOUNT, OTHER_ACCOUNT her account at the stand-in, and someone else's
//   CLAVIS_BIN, CLAVIS_CONFIG  the CLI, for what an operator does and sees
//   CSV_PATH, CSV_DEPARTED     the HR file, and its content once she left
// Steps print `step: …`. One thing is asked of the Rust side, which holds
// the database: `hook: expire-link` on stdout, answered by a line on stdin
// once the nurse's link has reached its end (no command moves a link's end).
// Exits 0 when every step passed.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { BACKCHANNEL_EVENT, startBroker } from "./psc-broker.mjs";

const env = process.env;
const base = env.BASE_URL;
const standIn = env.STANDIN_URL;
const amrFido2 = JSON.parse(env.AMR_FIDO2);
const step = (name) => console.log(`step: ${name}`);
function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const WAIT = { timeout: 15000 };

// The Rust side's answers to hooks, one line each.
const answers = [];
let waiting = null;
createInterface({ input: process.stdin }).on("line", (l) => {
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(l);
  } else answers.push(l);
});
async function hook(name) {
  console.log(`hook: ${name}`);
  const line = answers.length ? answers.shift() : await new Promise((r) => (waiting = r));
  expect(line === "ok", `hook ${name} answered ${line}`);
}

function cli(...args) {
  const out = execFileSync(env.CLAVIS_BIN, ["--config", env.CLAVIS_CONFIG, ...args], {
    encoding: "utf8",
    env: { ...process.env, CLAVIS_LANG: "en" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return args.includes("--json") ? JSON.parse(out) : out;
}
const links = () => cli("psc", "links", "--identity", env.NURSE_OID, "--json");
function theLink() {
  const l = links();
  expect(l.length === 1, `one link row for the nurse, got ${JSON.stringify(l)}`);
  return l[0];
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
// A scenario stuck somewhere fails instead of hanging the test.
const watchdog = setTimeout(() => {
  console.log("psc e2e: timed out");
  browser.close().finally(() => process.exit(3));
}, 240000);
let broker;
try {
  step("PSC's broker discovers Clavis");
  broker = await startBroker({
    port: Number(env.BROKER_PORT),
    issuer: base,
    clientId: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET,
  });
  expect(broker.meta.issuer === base, "issuer");
  expect(broker.meta.code_challenge_methods_supported.includes("S256"), "S256 advertised");
  expect(broker.meta.backchannel_logout_supported === true, "back-channel logout advertised");

  const context = await browser.newContext({ locale: "fr-FR" });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "usb", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  // Every document the browser asks for while `fn` runs (redirects
  // included: each hop is a request of its own).
  async function documentsDuring(fn) {
    const urls = [];
    const on = (r) => {
      if (r.resourceType() === "document" && r.frame() === page.mainFrame()) urls.push(r.url());
    };
    page.on("request", on);
    try {
      await fn();
    } finally {
      page.off("request", on);
    }
    return urls;
  }
  // PSC remembers who signed in at its e-CPS page; forgetting that (its
  // cookies, on 127.0.0.1; the broker keeps none) makes each trip to PSC
  // show the page, whoever signed in before.
  const forgetPsc = () => context.clearCookies({ domain: "127.0.0.1" });
  // At the stand-in's e-CPS page: sign in as `account`.
  async function ecps(account) {
    await page.waitForSelector("#ecps-ok", WAIT);
    expect(page.url().startsWith(`${standIn}/interaction/`), `the e-CPS page is PSC's: ${page.url()}`);
    await page.fill('input[name="account"]', account);
    await page.click("#ecps-ok");
  }
  async function brokerAnswer(req) {
    await page.waitForURL((u) => broker.isCallback(u.href), WAIT);
    return req.result;
  }
  // An assertion as PSC needs it, verified by the broker.
  function expectAssertion(r, what) {
    expect(!r.error, `${what}: an assertion, got ${r.error} ${r.description ?? ""}`);
    const c = r.claims;
    expect(same(c, r.verified), `${what}: openid-client and jose read the same verified token`);
    expect(r.header.alg && r.header.kid, `${what}: signed with a key of the JWKS (${JSON.stringify(r.header)})`);
    expect(c.iss === base && c.aud === env.CLIENT_ID, `${what}: iss and aud`);
    expect(c.nonce === r.nonce, `${what}: the broker's nonce`);
    expect(c.tid === env.TID, `${what}: tid ${c.tid}`);
    expect(c.oid === env.NURSE_OID && c.sub === env.NURSE_OID, `${what}: oid and sub ${c.oid} ${c.sub}`);
    expect(same(c.amr, amrFido2), `${what}: amr ${JSON.stringify(c.amr)} is [psc.amr] fido2`);
    expect(c.acr === env.ACR_FIDO2, `${what}: acr ${c.acr}`);
    expect(c.SubjectNameID === env.NATIONAL_ID, `${what}: national id ${c.SubjectNameID}`);
    expect(Number.isInteger(c.auth_time) && typeof c.sid === "string", `${what}: auth_time and sid`);
    return c;
  }
  // The link through PSC from the link page Clavis shows.
  async function linkThroughPsc(account) {
    await page.waitForSelector("#psc-link", WAIT);
    expect((await page.textContent("h1")).includes("Associer votre compte à Pro Santé Connect"), "the link page");
    await forgetPsc();
    await page.click("#psc-link");
    await ecps(account);
  }

  step("enrol the nurse's key");
  let resp = await page.goto(env.ENROL_URL);
  expect(resp.status() === 200, "the enrolment page opens");
  await page.getByLabel("Nom de la clé").fill("Clé du service");
  await page.getByRole("button", { name: "Enregistrer la clé" }).click();
  await page.waitForURL(/\/login/, WAIT);

  step("PSC sends her to Clavis: she signs in with her key on the way");
  let req = await broker.begin();
  await page.goto(req.url);
  expect(page.url().startsWith(`${base}/login`), `no session yet: the login page, at ${page.url()}`);
  await page.getByRole("button", { name: "Se connecter avec ma clé de sécurité" }).click();
  await page.waitForURL((u) => u.href.startsWith(`${base}/psc/link?`), WAIT);

  step("first time: the link page, then e-CPS at PSC, then PSC is answered");
  expect(await page.isVisible("#psc-decline"), "a way to say no");
  await linkThroughPsc(env.PSC_ACCOUNT);
  let claims = expectAssertion(await brokerAnswer(req), "first assertion");
  let link = theLink();
  expect(link.state === "valid" && link.national_id === env.NATIONAL_ID, `the link stored: ${JSON.stringify(link)}`);
  expect(link.acr === "eidas1" && link.auth_mode === "EDIT", "the evidence of the e-CPS authentication");
  const firstLink = link;

  step("second time: no page at all");
  req = await broker.begin();
  let docs = await documentsDuring(async () => {
    await page.goto(req.url);
    await brokerAnswer(req);
  });
  expectAssertion(await req.result, "second assertion");
  expect(docs.length === 2, `only Clavis's authorization endpoint and the broker: ${docs.join(" -> ")}`);
  expect(docs[0].startsWith(`${base}/oidc/authorize?`) && broker.isCallback(docs[1]), docs.join(" -> "));

  step("another national id at PSC: refused, nothing stored, a case opened");
  await page.goto(`${base}/me`);
  expect((await page.textContent("#psc-status")).trim() === "Associé", "/me says linked");
  expect((await page.textContent("#psc-national-id")).trim() === env.NATIONAL_ID, "/me shows the national id");
  await forgetPsc();
  await page.click("#psc-renew");
  await ecps(env.OTHER_ACCOUNT);
  await page.waitForSelector('p.error[data-reason="national_id_mismatch"]', WAIT);
  expect(page.url().startsWith(`${base}/psc/callback?`), "Clavis's answer to PSC's return");
  expect((await page.textContent("main")).includes("Rien n'a été enregistré"), "the page says nothing was stored");
  expect((await page.getAttribute("#psc-continue", "href")) === "/me", "a way back to /me");
  link = theLink();
  expect(
    link.id_token_sha256 === firstLink.id_token_sha256 && link.linked_at === firstLink.linked_at && link.state === "valid",
    `the stored link is untouched: ${JSON.stringify(link)}`,
  );
  const cases = cli("cases", "list", "--json").items.filter((c) => c.source === "psc");
  expect(cases.length === 1, `one case from PSC: ${JSON.stringify(cases)}`);
  expect(cases[0].reason === "national_id_mismatch" && cases[0].status === "open", `the case: ${JSON.stringify(cases[0])}`);
  expect(JSON.stringify(cases[0]).includes(env.NURSE_OID), "the case names the nurse");
  req = await broker.begin();
  await page.goto(req.url);
  expectAssertion(await brokerAnswer(req), "the standing link still answers PSC");

  step("an expired link goes through the link again");
  await hook("expire-link");
  expect(theLink().state === "expired", "the link has reached its end");
  req = await broker.begin();
  await page.goto(req.url);
  expect(page.url().startsWith(`${base}/psc/link?`), `the link page again, at ${page.url()}`);
  await linkThroughPsc(env.PSC_ACCOUNT);
  expectAssertion(await brokerAnswer(req), "assertion after renewal");
  link = theLink();
  expect(link.state === "valid" && link.id_token_sha256 !== firstLink.id_token_sha256, "renewed with new evidence");
  expect(Date.parse(link.expires_at) - Date.now() > 700 * 86400 * 1000, `valid two years again: ${link.expires_at}`);

  step("she removes the link on her page; PSC then gets the link page, and her no");
  await page.goto(`${base}/me`);
  await page.click("#psc-unlink");
  // The form posts and comes back to /me: wait for the page after it.
  await page.locator("#psc-status", { hasText: "Association retirée" }).waitFor(WAIT);
  expect(!(await page.isVisible("#psc-unlink")), "nothing left to remove");
  link = theLink();
  expect(link.state === "revoked" && link.revoked_reason === "by_person", `revoked by her: ${JSON.stringify(link)}`);
  req = await broker.begin();
  await page.goto(req.url);
  expect(page.url().startsWith(`${base}/psc/link?`), `the link page, at ${page.url()}`);
  await page.click("#psc-decline");
  let r = await brokerAnswer(req);
  expect(r.error === "access_denied", `a no answers PSC access_denied: ${JSON.stringify(r)}`);

  step("linked again, then an operator removes the link");
  req = await broker.begin();
  await page.goto(req.url);
  await linkThroughPsc(env.PSC_ACCOUNT);
  expectAssertion(await brokerAnswer(req), "assertion after linking again");
  cli("psc", "unlink", env.NURSE_OID, "--reason", "RPPS en cours de vérification");
  link = theLink();
  expect(link.state === "revoked" && link.revoked_reason === "by_operator", `revoked by the operator: ${JSON.stringify(link)}`);
  await page.goto(`${base}/me`);
  expect((await page.textContent("#psc-status")).trim() === "Association retirée", "/me says removed");
  req = await broker.begin();
  await page.goto(req.url);
  expect(page.url().startsWith(`${base}/psc/link?`), `the link page, at ${page.url()}`);
  await linkThroughPsc(env.PSC_ACCOUNT);
  claims = expectAssertion(await brokerAnswer(req), "assertion after the operator's unlink");

  step("she signs out: PSC gets a back-channel logout token");
  await page.goto(`${base}/me`);
  await page.getByRole("button", { name: "Se déconnecter" }).click();
  await page.waitForSelector("text=Vous êtes déconnecté", WAIT);
  const { payload: lt, header: lth } = await broker.logoutToken(claims.sid, Date.now() + 20000);
  expect(lth.typ === "logout+jwt", "typ logout+jwt");
  expect(lt.iss === base && lt.aud === env.CLIENT_ID, "iss and aud of the logout token");
  expect(lt.events && typeof lt.events[BACKCHANNEL_EVENT] === "object", "the back-channel logout event");
  expect(lt.sid === claims.sid && lt.sub === env.NURSE_OID, "the session's sid and sub");
  expect(lt.nonce === undefined, "no nonce in a logout token");

  step("she signs in with PSC (a forgotten key): never asserted back to PSC");
  await forgetPsc();
  await page.goto(`${base}/login`);
  await page.click("#psc-login");
  await ecps(env.PSC_ACCOUNT);
  await page.waitForURL(`${base}/me`, WAIT);
  expect((await page.textContent("main")).includes("Bonjour"), "signed in: /me greets her");
  const sessions = cli("session", "list", "--identity", env.NURSE_OID, "--json");
  const viaPsc = sessions.filter((s) => s.method === "psc");
  expect(viaPsc.length === 1 && viaPsc[0].acr === "eidas1", `one session opened through PSC: ${JSON.stringify(sessions)}`);
  req = await broker.begin();
  await page.goto(req.url);
  r = await brokerAnswer(req);
  expect(r.error === "access_denied", `a PSC session is not asserted to PSC: ${JSON.stringify(r)}`);

  step("she leaves: link revoked, her key and PSC sign no one in");
  writeFileSync(env.CSV_PATH, env.CSV_DEPARTED);
  cli("sync", "--source", "rh");
  link = theLink();
  expect(link.revoked_reason === "departed", `the departure revoked the link: ${JSON.stringify(link)}`);
  await page.goto(`${base}/me`);
  expect(page.url().startsWith(`${base}/login`), "her session ended");
  req = await broker.begin();
  await page.goto(req.url);
  expect(page.url().startsWith(`${base}/login`), `PSC's request finds no session: ${page.url()}`);
  await page.getByRole("button", { name: "Se connecter avec ma clé de sécurité" }).click();
  await page.waitForSelector("#status.error", WAIT);
  expect(page.url().startsWith(`${base}/login`), "the key signs nobody in");
  await forgetPsc();
  await page.goto(`${base}/login`);
  await page.click("#psc-login");
  await ecps(env.PSC_ACCOUNT);
  await page.waitForSelector('p.error[data-reason="identity_not_active"]', WAIT);
  const live = cli("session", "list", "--identity", env.NURSE_OID, "--json");
  expect(live.length === 0, `no live session for her: ${JSON.stringify(live)}`);

  console.log("psc e2e: all steps passed");
} finally {
  clearTimeout(watchdog);
  await browser.close();
  await broker?.close();
  process.stdin.destroy();
}
