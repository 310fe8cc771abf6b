// Drives Debian's chromium (playwright-core, no downloaded browser) through the dashboard and
// prints what a user sees as one JSON object; tests/e2e/test_dashboard.py asserts on it.
// Usage: node dashboard_probe.js BASE_URL SCREENSHOT_PATH, with the ministry token in the
// VAXPASS_PROBE_TOKEN environment variable (kept off the command line).
//
// Each scenario runs in a fresh browser context (empty storage): the token typed into the form,
// given in the fragment, given in the query (must not work), left in localStorage by an older
// page (must be wiped, not used), and a refused token. The token itself is never printed: the
// report says where it was found.
"use strict";
const { chromium } = require("playwright-core");

const KEY = "vaxpass.token";
const SETTLED = "body[data-loaded=true], #status.error, #signin:not([hidden])";

function watch(page, token) {
  const seen = { console_errors: [], requests: [], token_in_request_url: false, authorized_requests: 0,
                 referers: [], headers: {} };
  page.on("console", (m) => { if (m.type() === "error") seen.console_errors.push(m.text()); });
  page.on("pageerror", (e) => seen.console_errors.push(String(e)));
  page.on("request", (r) => {
    seen.requests.push(r.url().split("#")[0].replace(token, "<token>"));
    if (r.url().split("#")[0].includes(token)) seen.token_in_request_url = true;
    const h = r.headers();
    if (h.authorization) seen.authorized_requests += 1;
    if (h.referer) seen.referers.push(h.referer.replace(token, "<token>"));
  });
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/dashboard")) seen.headers[path] = r.headers();
  });
  return seen;
}

async function state(page, token) {
  return page.evaluate(([key, t]) => ({
    url_has_token: window.location.href.includes(t),
    url: window.location.pathname + window.location.search + window.location.hash,
    loaded: document.body.getAttribute("data-loaded") === "true",
    signin_shown: !!document.getElementById("signin") && !document.getElementById("signin").hidden,
    signin_note: (document.getElementById("signin-note") || {}).textContent || "",
    status: document.getElementById("status").textContent,
    session_has_token: window.sessionStorage.getItem(key) === t,
    local_has_token: Object.keys(window.localStorage).some((k) => (window.localStorage.getItem(k) || "").includes(t)),
    local_keys: Object.keys(window.localStorage),
    csp_violations: window.__csp || [],
  }), [KEY, token]);
}

async function scenario(browser, token, run) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "vi-VN" });
  // Runs before the page's own script, outside its CSP (playwright injects it through CDP).
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation",
      (e) => window.__csp.push({ directive: e.effectiveDirective, blocked: e.blockedURI }));
  });
  const page = await context.newPage();
  const seen = watch(page, token);
  try {
    Object.assign(seen, await run(page, seen));
    Object.assign(seen, await state(page, token));
  } catch (e) {
    seen.error = String(e && e.stack || e);
  } finally {
    await context.close();
  }
  return seen;
}

async function settle(page) {
  await page.waitForSelector(SETTLED, { timeout: 15000 });
  await page.waitForLoadState("networkidle");
}

async function dashboardData(page) {
  return {
    totals: await page.$$eval("[data-testid^=total-]", (els) =>
      Object.fromEntries(els.map((e) => [e.dataset.testid.slice(6), { value: Number(e.dataset.value), text: e.textContent }]))),
    province_bars: await page.$$eval("[data-testid^=province-bar-]", (els) =>
      els.map((e) => ({ code: e.dataset.province, text: e.textContent }))),
    backlog_bars: await page.$$eval("[data-testid^=backlog-bar-]", (els) => els.map((e) => e.dataset.province)),
    days: await page.$$eval("[data-testid^=day-]", (els) =>
      els.map((e) => [e.dataset.testid.slice(4), Number(e.dataset.value)])),
  };
}

async function main() {
  const [base, screenshot] = process.argv.slice(2);
  const token = process.env.VAXPASS_PROBE_TOKEN;
  if (!base || !screenshot || !token) {
    throw new Error("usage: VAXPASS_PROBE_TOKEN=... node dashboard_probe.js BASE_URL SCREENSHOT_PATH");
  }
  const browser = await chromium.launch({
    executablePath: process.env.VAXPASS_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // This machine's network is closed: without the background-networking flags chromium
    // keeps trying to reach Google's hosts.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  const out = {};
  try {
    out.form = await scenario(browser, token, async (page, seen) => {
      await page.goto(`${base}/dashboard`, { waitUntil: "load", timeout: 30000 });
      await settle(page);
      const before = await state(page, token);
      await page.fill("#token-input", token);
      await page.click("[data-testid=token-submit]");
      await page.waitForSelector("body[data-loaded=true], #status.error", { timeout: 30000 });
      const data = await dashboardData(page);
      await page.screenshot({ path: screenshot, fullPage: true });
      const after = await state(page, token);
      const consoleErrors = seen.console_errors.slice();
      // The CSP is not decoration: a script injected into the page does not run, and says so.
      const injected = await page.evaluate(async () => {
        const s = document.createElement("script");
        s.textContent = "window.__injected = true;";
        document.body.appendChild(s);
        await new Promise((r) => setTimeout(r, 200));
        return { ran: window.__injected === true, violations: window.__csp.slice() };
      });
      // and reloading the tab keeps the session's token
      await page.reload({ waitUntil: "load" });
      await settle(page);
      const reloaded = (await state(page, token)).loaded;
      return { signin_shown_first: before.signin_shown, loaded_before_sign_in: before.loaded,
               csp_violations_before_injection: after.csp_violations, status_after: after.status,
               console_errors_before_injection: consoleErrors,
               injected, reloaded_still_signed_in: reloaded, ...data };
    });
    out.fragment = await scenario(browser, token, async (page) => {
      await page.goto(`${base}/dashboard#token=${encodeURIComponent(token)}`, { waitUntil: "load", timeout: 30000 });
      await settle(page);
      return { history_length: await page.evaluate(() => window.history.length) };
    });
    out.query = await scenario(browser, token, async (page) => {
      await page.goto(`${base}/dashboard?token=${encodeURIComponent(token)}`, { waitUntil: "load", timeout: 30000 });
      await settle(page);
      return {};
    });
    out.legacy_local_storage = await scenario(browser, token, async (page) => {
      await page.goto(`${base}/dashboard`, { waitUntil: "load", timeout: 30000 });
      await settle(page);
      await page.evaluate(([key, t]) => window.localStorage.setItem(key, t), [KEY, token]);
      await page.reload({ waitUntil: "load" });
      await settle(page);
      return {};
    });
    out.refused = await scenario(browser, token, async (page) => {
      await page.goto(`${base}/dashboard#token=not-a-valid-token`, { waitUntil: "load", timeout: 30000 });
      await page.waitForSelector("#signin:not([hidden]), #status.error", { timeout: 15000 });
      await page.waitForLoadState("networkidle");
      return { session_token: await page.evaluate((key) => window.sessionStorage.getItem(key), KEY) };
    });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
