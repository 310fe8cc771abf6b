// Drives Debian's chromium (playwright-core, no downloaded browser) through the dashboard and
// prints what a user sees as one JSON object; tests/e2e/test_dashboard.py asserts on it.
// Usage: node dashboard_probe.js URL SCREENSHOT_PATH
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const [url, screenshot] = process.argv.slice(2);
  if (!url || !screenshot) throw new Error("usage: node dashboard_probe.js URL SCREENSHOT_PATH");
  const browser = await chromium.launch({
    executablePath: process.env.VAXPASS_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // This machine's network is closed: without the background-networking flags chromium
    // keeps trying to reach Google's hosts.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  const out = { console_errors: [], requests: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: "vi-VN" });
    page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
    page.on("pageerror", (e) => out.console_errors.push(String(e)));
    page.on("request", (r) => out.requests.push(r.url()));
    await page.goto(url, { waitUntil: "load", timeout: 30000 });
    await page.waitForSelector("body[data-loaded=true], #status.error", { timeout: 30000 });
    out.status = await page.textContent("#status");
    out.totals = await page.$$eval("[data-testid^=total-]", (els) =>
      Object.fromEntries(els.map((e) => [e.dataset.testid.slice(6), { value: Number(e.dataset.value), text: e.textContent }])));
    out.province_bars = await page.$$eval("[data-testid^=province-bar-]", (els) =>
      els.map((e) => ({ code: e.dataset.province, text: e.textContent })));
    out.backlog_bars = await page.$$eval("[data-testid^=backlog-bar-]", (els) => els.map((e) => e.dataset.province));
    out.days = await page.$$eval("[data-testid^=day-]", (els) =>
      els.map((e) => [e.dataset.testid.slice(4), Number(e.dataset.value)]));
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
