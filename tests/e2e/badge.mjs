// Browser end-to-end test of the badge login, in real headless Chromium:
// the login page finds the real clavis-agent on 127.0.0.1, the agent reads
// the emulated DESFire card through the real pcscd (vpcd virtual reader) and
// relays it to the real `clavis serve`, then the page asks for the PIN.
// Driven by tests/it/badge_e2e.rs, which puts the card on the reader first
// and passes, in the environment: BASE_URL, WRONG_PIN (optional), PIN,
// EXPECT_NAME (text /me must show).
// Exits 0 when every step passed; prints the failing step otherwise.
import { chromium } from "playwright-core";

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
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const context = await browser.newContext({ locale: "fr-FR" });
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`console: ${m.text()}`));
  page.on("requestfailed", (r) => logs.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  process.on("exit", (code) => {
    if (code !== 0) console.log(logs.join("\n"));
  });

  step("the login page finds the agent and reads the badge");
  await page.goto(`${base}/login?return_to=/me`);
  const pin = page.getByLabel("Code PIN");
  try {
    await pin.waitFor({ state: "visible", timeout: 20000 });
  } catch (e) {
    console.log(`badge section: ${await page.locator("#badge").evaluate((b) => b.hidden ? "hidden" : "shown")}`);
    console.log(`status: ${await page.locator("#badge-status").textContent()}`);
    throw e;
  }
  const status = page.locator("#badge-status");
  expect((await status.textContent()).includes("Badge reconnu"), "the page says the badge was recognised");

  if (env.WRONG_PIN) {
    step("a wrong PIN is refused with the attempts left");
    await pin.fill(env.WRONG_PIN);
    await page.getByRole("button", { name: "Valider" }).click();
    await page.waitForFunction(
      () => document.querySelector("#badge-status").textContent.includes("Code PIN incorrect"),
      null,
      { timeout: 10000 },
    );
    expect((await status.textContent()).includes("Essais restants : 4"), "four attempts left");
  }

  step("the right PIN signs in");
  await pin.fill(env.PIN);
  await page.getByRole("button", { name: "Valider" }).click();
  await page.waitForURL(`${base}/me`, { timeout: 15000 });
  const body = await page.locator("main").textContent();
  expect(body.includes(env.EXPECT_NAME), `/me shows ${env.EXPECT_NAME}`);
  console.log("ok");
} finally {
  await browser.close();
}
