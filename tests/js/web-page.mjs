// Drives the web page in Debian's Chromium with playwright-core and prints what it saw as JSON lines.
// Usage: node web-page.mjs <base-url> [screenshot.png]. Exits 0 when every step passed, 1 with an "error" line.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [baseUrl, screenshot] = process.argv.slice(2);
const print = (event, payload = {}) => process.stdout.write(JSON.stringify({ event, ...payload }) + "\n");
const userDataDir = mkdtempSync(join(tmpdir(), "od-chromium-"));
let context;
let code = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    // Without the background-networking flags Chromium keeps dialling Google on a closed network.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => print("pageerror", { message: error.message }));
  page.setDefaultTimeout(60_000);

  await page.goto(baseUrl);
  await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0 && document.querySelectorAll("#scheduler option").length > 1);
  print("loaded", {
    title: await page.title(),
    demoNote: (await page.isVisible("#demo-note")) ? await page.textContent("#demo-note") : null,
    schedulers: await page.$$eval("#scheduler option", (options) => options.map((o) => o.value)),
  });

  await page.fill("#prompt", "a small red boat on a calm lake");
  await page.waitForFunction(() => /^\d+ \/ \d+ tokens$/.test(document.querySelector("#token-count").textContent));
  print("tokens", { count: await page.textContent("#token-count"), chunks: await page.isVisible("#token-chunks") });

  await page.fill("#width", "64");
  await page.fill("#height", "64");
  await page.fill("#steps", "4");
  await page.fill("#seed", "21");
  await page.selectOption("#scheduler", "euler");
  // Record every value the progress bar takes, to see it climb to 100%.
  await page.evaluate(() => {
    window.progressSeen = [];
    new MutationObserver(() => window.progressSeen.push(document.querySelector("#progress").value))
      .observe(document.querySelector("#progress"), { attributes: true });
    const bar = document.querySelector("#progress");
    const descriptor = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, "value");
    Object.defineProperty(bar, "value", {
      get() { return descriptor.get.call(this); },
      set(v) { descriptor.set.call(this, v); window.progressSeen.push(descriptor.get.call(this)); },
    });
  });
  await page.click("#generate-button");
  await page.waitForFunction(() => {
    const img = document.querySelector("#gallery figure img");
    return img && img.complete && img.naturalWidth > 0;
  });
  print("generated", {
    progress: await page.$eval("#progress", (bar) => bar.value),
    progressSeen: await page.evaluate(() => window.progressSeen),
    status: await page.textContent("#status"),
    images: await page.$$eval("#gallery figure img", (images) => images.map((i) => ({ width: i.naturalWidth, height: i.naturalHeight, src: i.getAttribute("src") }))),
    caption: await page.textContent("#gallery figcaption"),
  });

  await page.fill("#prompt", Array(90).fill("cat").join(" "));
  await page.waitForSelector("#token-chunks", { state: "visible" });
  print("long-prompt", { count: await page.textContent("#token-count"), chunks: await page.textContent("#token-chunks") });

  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} catch (error) {
  print("error", { message: String(error?.message ?? error) });
  code = 1;
} finally {
  await context?.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
