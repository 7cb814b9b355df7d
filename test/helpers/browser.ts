/**
 * Headless Chromium for tests that need a real browser (the chat page, later the in-browser
 * library page): finds Debian's `chromium` and drives it with puppeteer-core.
 *
 * Contract:
 * - `chromiumPath()` is $CHROMIUM_PATH when set (undefined if that file does not exist), else
 *   the first of /usr/bin/chromium, /usr/bin/chromium-browser, /usr/bin/google-chrome that
 *   exists, else undefined.
 * - `browserSkipReason()` is undefined when a browser was found, or the reason to skip
 *   (`test(name, { skip: browserSkipReason() }, ...)`). Under CI (CI=true) a missing browser
 *   is never a skip: it throws, so the suite fails loudly (.ci/run installs `chromium`).
 * - `launchBrowser()` starts it headless with flags that work as root in a container (no
 *   sandbox, no GPU, no /dev/shm reliance); `openPage()` opens a URL and collects the page's
 *   uncaught errors, console errors and failed requests in `problems`, which a test asserts
 *   to be empty at its end.
 */
import fs from "node:fs";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** Flags for a headless browser as root in a container; puppeteer adds --headless=new itself. */
export const CONTAINER_FLAGS = [
  "--no-sandbox",
  "--disable-setuid-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--no-default-browser-check",
];

export function chromiumPath(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv !== undefined && fromEnv !== "") return fs.existsSync(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find((p) => fs.existsSync(p));
}

function inCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

export function browserSkipReason(): string | undefined {
  if (chromiumPath() !== undefined) return undefined;
  const fromEnv = process.env.CHROMIUM_PATH;
  const where = fromEnv ? `CHROMIUM_PATH=${fromEnv} does not exist` : `no Chromium at ${CANDIDATES.join(", ")} (or $CHROMIUM_PATH)`;
  const reason = `${where}; install Debian's with \`apt-get install -y chromium\``;
  if (inCI()) throw new Error(`CI=true and ${reason}: the browser tests cannot run (.ci/run should have installed it)`);
  return reason;
}

export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error(browserSkipReason() ?? "no Chromium found");
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: [...CONTAINER_FLAGS, ...extraArgs],
    timeout: 60_000,
    protocolTimeout: 120_000,
  });
}

export interface OpenedPage {
  page: Page;
  /** Uncaught exceptions, console.error messages and failed requests, in order. */
  problems: string[];
}

/** Opens `url` in a new tab and waits for it to load; `timeoutMs` is also the page's default wait. */
export async function openPage(browser: Browser, url: string, timeoutMs = 30_000): Promise<OpenedPage> {
  const page = await browser.newPage();
  page.setDefaultTimeout(timeoutMs);
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err instanceof Error ? err.message : String(err)}`));
  page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console error: ${msg.text()}`); });
  page.on("requestfailed", (req) => {
    const why = req.failure()?.errorText ?? "failed";
    // A fetch the page aborted on purpose (a Stop button) is not a problem.
    if (why !== "net::ERR_ABORTED") problems.push(`request failed: ${req.method()} ${req.url()} (${why})`);
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, problems };
}
