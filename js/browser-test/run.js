// Browser test: build the demo, serve it statically, open it in Debian's Chromium, search the fixed
// queries through the page's form and assert that the top-k on the page equals the Python runtime's
// (ids identical, scores within 1e-5). Keeps a screenshot in js/test-results/demo.png.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./chromium.js";
import { serve } from "./server.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const jsRoot = path.resolve(here, "..");
const dist = path.join(jsRoot, "demo", "dist");
const results = path.join(jsRoot, "test-results");
const TOL = 1e-5;

execFileSync(process.execPath, [path.join(jsRoot, "demo", "build.js"), ...process.argv.slice(2)], { stdio: "inherit" });
const expected = JSON.parse(readFileSync(path.join(dist, "data", "expected.json"), "utf8"));
mkdirSync(results, { recursive: true });

const server = await serve(dist);
const browser = await launch({ viewport: { width: 1100, height: 1400 } });
let failed = false;
try {
  const page = await browser.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") console.error(`page: ${msg.text()}`);
  });
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready]", { timeout: 300_000, state: "attached" });
  assert.equal(await page.getAttribute("body", "data-ready"), "true", await page.textContent("#status") ?? "");
  let worst = 0;
  for (const [i, query] of expected.queries.entries()) {
    await page.fill("#query", query);
    await page.click("#go");
    await page.waitForFunction((q) => document.body.dataset.query === q, query);
    const hits = await page.$$eval("#results li", (items) => items.map((li) => [li.dataset.id, Number(li.dataset.score)]));
    const want = expected.hits[i];
    assert.deepEqual(hits.map((h) => String(h[0])), want.map((/** @type {any} */ h) => String(h[0])), `query ${JSON.stringify(query)}: top-${expected.k} ids`);
    for (const [j, h] of hits.entries()) worst = Math.max(worst, Math.abs(Number(h[1]) - want[j][1]));
    console.log(`ok: ${JSON.stringify(query)} top-${hits.length} equals Python's`);
  }
  assert.ok(worst <= TOL, `scores differ from Python's by up to ${worst}`);
  console.log(`browser: ${expected.queries.length} queries, top-${expected.k} identical, max |score diff| ${worst.toExponential(2)}`);
  await page.fill("#query", expected.queries[0]);
  await page.click("#go");
  await page.waitForFunction((q) => document.body.dataset.query === q, expected.queries[0]);
  await page.screenshot({ path: path.join(results, "demo.png"), fullPage: true });
  console.log(`screenshot: ${path.join(results, "demo.png")}`);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
