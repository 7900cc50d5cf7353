// The packed tarball, installed into a scratch project, works from every entry point:
// ESM import, CJS require, the `ipsec6in4` bin, and the browser build in real headless
// Chromium (no fs, no Node built-ins). Each computes Wycheproof AES-GCM tcId 1.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDebian } from "./helpers/apt.js";

const root = new URL("..", import.meta.url).pathname;
// Wycheproof aes_gcm_test.json tcId 1.
const V = {
  key: "5b9604fe14eadba931b0ccf34843dab9",
  iv: "028318abc1824029138141a2",
  msg: "001d0c231287c1182784554ca3a21908",
  sealed: "26073cc1d851beff176384dc9896d5ff" + "0a3ea7a5487cb5f7d70fb6c58d038554",
};
const snippet = (imp: string) => `${imp}
const h = (s) => Uint8Array.from(s.match(/../g).map((x) => parseInt(x, 16)));
const x = (b) => Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
const main = async () => {
  const g = await createAesGcm(h("${V.key}"));
  const s = g.seal(h("${V.iv}"), h("${V.msg}"));
  const o = g.open(h("${V.iv}"), s);
  return g.engine + " " + x(s) + " " + x(o);
};`;

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ipsec6in4-pack-"));
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: root, stdio: "ignore" });
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "scratch", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(dir, tgz)], { cwd: dir, stdio: "ignore" });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("packed tarball", () => {
  it("ESM import works", () => {
    writeFileSync(join(dir, "esm.mjs"), snippet(`import { createAesGcm } from "ipsec6in4";`) + "\nconsole.log(await main());");
    expect(execFileSync("node", ["esm.mjs"], { cwd: dir, encoding: "utf8" }).trim()).toBe(`node ${V.sealed} ${V.msg}`);
  });

  it("CJS require works", () => {
    writeFileSync(join(dir, "cjs.cjs"), snippet(`const { createAesGcm } = require("ipsec6in4");`) + "\nmain().then(console.log);");
    expect(execFileSync("node", ["cjs.cjs"], { cwd: dir, encoding: "utf8" }).trim()).toBe(`node ${V.sealed} ${V.msg}`);
  });

  it("ships type declarations for both and a working bin", () => {
    const pkg = JSON.parse(readFileSync(join(dir, "node_modules/ipsec6in4/package.json"), "utf8"));
    for (const f of [pkg.exports["."].import.types, pkg.exports["."].require.types, pkg.exports["."].browser.types]) {
      expect(readFileSync(join(dir, "node_modules/ipsec6in4", f), "utf8")).toContain("createAesGcm");
    }
    expect(execFileSync(join(dir, "node_modules/.bin/ipsec6in4"), ["version"], { encoding: "utf8" }).trim()).toBe(pkg.version);
  });

  it("the browser build runs in headless Chromium without fs", async (ctx) => {
    const skip = ensureDebian("/usr/bin/chromium", ["chromium"]);
    if (skip) return ctx.skip(skip);
    const browserJs = readFileSync(join(dir, "node_modules/ipsec6in4/dist/browser.js"), "utf8");
    expect(browserJs).not.toMatch(/from\s*["']node:|require\(/);
    const page = `<!doctype html><script type="module">${snippet(`import { createAesGcm } from "/browser.js";`)}
      main().then((r) => { window.result = r; }, (e) => { window.result = "error " + e; });</script>`;
    const server: Server = createServer((req, res) => {
      if (req.url === "/browser.js") res.writeHead(200, { "content-type": "text/javascript" }).end(browserJs);
      else res.writeHead(200, { "content-type": "text/html" }).end(page);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const p = await browser.newPage();
      const port = (server.address() as { port: number }).port;
      await p.goto(`http://127.0.0.1:${port}/`);
      await p.waitForFunction(() => (window as unknown as { result?: string }).result !== undefined, undefined, { timeout: 30_000 });
      expect(await p.evaluate(() => (window as unknown as { result: string }).result)).toBe(`wasm ${V.sealed} ${V.msg}`);
    } finally {
      await browser.close();
      server.close();
    }
  });
});
