/** Headless Chromium (Debian's `chromium` package) for the browser tests, driven by playwright-core. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Why the browser tests cannot run, or false. Without Chromium they are skipped with this reason,
 * except under `CI=true`, where the suite fails instead (see `launchChromium`).
 */
export const chromiumMissing: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} not found: install the Debian "chromium" package (apt-get install -y chromium)`;

/** The `skip` option of a browser suite: skipped without Chromium, unless under `CI=true`. */
export const chromiumSkip: string | false =
  chromiumMissing !== false && process.env.CI !== 'true' ? chromiumMissing : false;

/** Starts Chromium (`extraArgs` added); throws under `CI=true` when it is missing. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (chromiumMissing !== false) throw new Error(`CI=true and ${chromiumMissing}`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    headless: true,
  });
}

/**
 * Records the uncaught script errors and Content-Security-Policy violations of `page` into the
 * returned list (a test asserts it stays empty).
 */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Uncaught/i.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  return problems;
}
