// Browser end-to-end test of the FIDO2 login, in real headless Chromium with
// the DevTools virtual authenticator (a CTAP2 key with PIN/biometrics and
// discoverable credentials). Driven by tests/it/browser.rs, which starts
// `clavis serve` and passes, in the environment:
//   BASE_URL, ENROL_URL, SCENARIO (full | expiry), and for "full":
//   CLAVIS_BIN, CLAVIS_CONFIG, CSV_PATH, CSV_DEPARTED (content to write).
// Exits 0 when every step passed; prints the failing step otherwise.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";

const env = process.env;
const base = env.BASE_URL;
const step = (name) => console.log(`step: ${name}`);
function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
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
try {
  const context = await browser.newContext({ locale: "fr-FR" });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "usb",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });

  async function signIn() {
    await page.goto(`${base}/login`);
    await page.getByRole("button", { name: "Se connecter avec ma clé de sécurité" }).click();
    await page.waitForURL(`${base}/me`, { timeout: 15000 });
  }

  step("enrol from the link");
  let resp = await page.goto(env.ENROL_URL);
  expect(resp.status() === 200, "the enrolment page opens");
  await page.getByLabel("Nom de la clé").fill("Clé du service");
  await page.getByRole("button", { name: "Enregistrer la clé" }).click();
  await page.waitForURL(/\/login/, { timeout: 15000 });
  const creds = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  expect(creds.credentials.length === 1, "one credential on the key");
  expect(creds.credentials[0].isResidentCredential, "the credential is discoverable");

  step("sign in without a username");
  await signIn();
  const me = await page.textContent("main");
  expect(me.includes("Bonjour"), "the /me page greets the user");
  expect(/se termine dans/.test(me), "the time left is shown");
  expect(me.includes("Clé du service"), "the key is listed");
  const cookies = await context.cookies();
  const sso = cookies.find((c) => c.name === "__Host-clavis_sso");
  expect(sso && sso.httpOnly && sso.secure && sso.sameSite === "Lax", "session cookie flags");

  if (env.SCENARIO === "expiry") {
    step("the session ends at its absolute lifetime");
    const deadline = Date.now() + 30000;
    let expired = false;
    while (Date.now() < deadline) {
      const r = await page.goto(`${base}/me`);
      if (page.url().includes("/login")) {
        expired = true;
        break;
      }
      expect(r.status() === 200, "/me answers while the session lives");
      await page.waitForTimeout(500);
    }
    expect(expired, "the session expired and /me sends back to /login");
  } else {
    step("sign out");
    await page.getByRole("button", { name: "Se déconnecter" }).click();
    await page.waitForSelector("text=Vous êtes déconnecté");
    await page.goto(`${base}/me`);
    expect(page.url().includes("/login"), "signed out: /me sends to /login");

    step("a used link is refused");
    resp = await page.goto(env.ENROL_URL);
    expect(resp.status() === 410, "the used link answers 410");
    expect((await page.textContent("main")).includes("Lien non valable"), "the page says why");

    step("a departure ends the session at the next request");
    await signIn();
    writeFileSync(env.CSV_PATH, env.CSV_DEPARTED);
    execFileSync(env.CLAVIS_BIN, ["--config", env.CLAVIS_CONFIG, "sync", "--source", "rh"], { stdio: "inherit" });
    await page.goto(`${base}/me`);
    expect(page.url().includes("/login"), "the departed person's session is gone");
  }
  console.log("e2e: all steps passed");
} finally {
  await browser.close();
}
