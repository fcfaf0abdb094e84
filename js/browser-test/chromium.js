// Launch the system Chromium (Debian's /usr/bin/chromium) through playwright-core: no browser download.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/**
 * A fresh headless Chromium with a throw-away profile (a playwright BrowserContext: ``newPage()``, ``close()``).
 * @param {{viewport?: {width: number, height: number}}} [options]
 */
export async function launch(options = {}) {
  const profile = mkdtempSync(path.join(os.tmpdir(), "tessera-chromium-"));
  return chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
