// A minimal static file server (what any static host does): GET files under a root, with MIME types.
import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";

const TYPES = /** @type {Record<string, string>} */ ({
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
});

/**
 * Serve ``root`` on 127.0.0.1 (random port); resolves to ``{url, close}``.
 * @param {string} root
 * @returns {Promise<{url: string, close: () => void, bytes: () => number, files: string[]}>}
 */
export function serve(root) {
  let sent = 0;
  /** @type {string[]} */
  const files = [];
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    let file = path.join(root, rel);
    if (!file.startsWith(path.resolve(root))) {
      res.statusCode = 403;
      res.end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = path.join(file, "index.html");
      const size = statSync(file).size;
      sent += size;
      files.push(file);
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "content-length": size });
      createReadStream(file).pipe(res);
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = /** @type {import("node:net").AddressInfo} */ (server.address());
      resolve({ url: `http://127.0.0.1:${address.port}/`, close: () => server.close(), bytes: () => sent, files });
    });
  });
}
