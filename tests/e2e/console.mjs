// The DSI's console in real headless Chromium: each operator enrols a
// security key (DevTools virtual authenticator) from their link, signs in,
// and walks the pages their role reaches; every page is checked with
// axe-core (WCAG 2.1 A and AA rules: no serious or critical violation) and
// kept as a screenshot; a page of an area the role does not reach is
// refused. Driven by tests/it/console_browser.rs, which starts
// `clavis serve` and passes, in the environment:
//   BASE_URL, SHOTS (a directory for the screenshots), OPERATORS (JSON:
//   [{name, link, menu: [labels], forbidden: [paths], extra: [paths]}]).
// Exits 0 when every step passed; prints the failing step otherwise.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const env = process.env;
const base = env.BASE_URL;
const operators = JSON.parse(env.OPERATORS);
const shots = env.SHOTS;
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const step = (name) => console.log(`step: ${name}`);
function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

/// Runs axe-core on the page; fails on any serious or critical violation.
async function accessible(page, what) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
    }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.length === 0, `${what}: accessibility violations ${JSON.stringify(bad)}`);
  return result.length;
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
let checked = 0;
try {
  for (const op of operators) {
    // The pages' policy refuses inline scripts: the test's own axe-core is
    // injected by bypassing it (the policy itself is tested in Rust).
    const context = await browser.newContext({ locale: "fr-FR", bypassCSP: true });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "usb",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });

    step(`${op.name}: enrol a key`);
    await page.goto(op.link);
    await page.getByLabel("Nom de la clé").fill(`Clé de ${op.name}`);
    await page.getByRole("button", { name: "Enregistrer la clé" }).click();
    await page.waitForURL(/\/login/, { timeout: 15000 });

    step(`${op.name}: the console asks to sign in, then comes back`);
    await page.goto(`${base}/console`);
    expect(page.url().includes("/login"), "signed out: to the login page");
    await page.getByRole("button", { name: "Se connecter avec ma clé de sécurité" }).click();
    await page.waitForURL(`${base}/console`, { timeout: 15000 });

    step(`${op.name}: the menu shows the role's areas`);
    const menu = await page.locator("header nav a").allTextContents();
    expect(
      JSON.stringify(menu) === JSON.stringify(op.menu),
      `menu ${JSON.stringify(menu)} is ${JSON.stringify(op.menu)}`,
    );

    step(`${op.name}: the skip link comes first and leads to the content`);
    await page.keyboard.press("Tab");
    const first = await page.evaluate(() => document.activeElement.textContent.trim());
    expect(first === "Aller au contenu", `first focus: ${first}`);
    await page.keyboard.press("Enter");
    expect(page.url().endsWith("#contenu"), "the skip link jumps to the content");

    const hrefs = await page.locator("header nav a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    for (const href of [...hrefs, ...op.extra]) {
      step(`${op.name}: ${href}`);
      const resp = await page.goto(`${base}${href}`);
      expect(resp.status() === 200, `${href}: ${resp.status()}`);
      const h1 = await page.locator("h1").first().textContent();
      expect(h1 && h1.trim().length > 0, `${href}: a heading`);
      const file = `${op.name}${href.replace(/[^a-z0-9]+/gi, "-")}.png`;
      await page.screenshot({ path: `${shots}/${file}`, fullPage: true });
      await accessible(page, `${op.name} ${href}`);
      checked += 1;
    }

    for (const path of op.forbidden) {
      step(`${op.name}: ${path} is refused`);
      const resp = await page.goto(`${base}${path}`);
      expect(resp.status() === 403, `${path}: ${resp.status()}`);
      expect((await page.textContent("h1")).includes("Accès refusé"), `${path}: the refusal page`);
      await accessible(page, `${op.name} ${path} (refused)`);
    }
    await context.close();
  }
  console.log(`ok: ${checked} pages checked`);
} finally {
  await browser.close();
}
