// Build the browser packet decoder page (web/) into dist/web/: app.js (the page), worker.js
// (the decode core and its embedded wasm, run in a Web Worker), index.html and style.css.
// Run after tsup (build:ts empties dist/). No node: module may reach the bundles.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

// esbuild comes with tsup (a devDependency); resolve it through tsup if it is not hoisted.
async function loadEsbuild() {
  try {
    return await import("esbuild");
  } catch {
    const req = createRequire(createRequire(import.meta.url).resolve("tsup"));
    return await import(req.resolve("esbuild"));
  }
}
const { build } = await loadEsbuild();

const root = new URL("../", import.meta.url);
const out = new URL("dist/web/", root);
mkdirSync(out, { recursive: true });
const { version } = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));

const common = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "none",
  define: { __VERSION__: JSON.stringify(version) },
  logLevel: "warning",
  // A node: import reaching the page is a bug: fail the build instead of shipping it.
  plugins: [
    {
      name: "no-node",
      setup(b) {
        b.onResolve({ filter: /^node:/ }, (a) => ({ errors: [{ text: `${a.path} imported by ${a.importer}: the page must not use Node modules` }] }));
      },
    },
  ],
};

await build({ ...common, entryPoints: { app: new URL("web/app.ts", root).pathname, worker: new URL("web/worker.ts", root).pathname }, outdir: out.pathname });
copyFileSync(new URL("web/style.css", root), new URL("style.css", out));
writeFileSync(new URL("index.html", out), readFileSync(new URL("web/index.html", root), "utf8").replaceAll("%VERSION%", version));
console.log(`built dist/web/ (ipsec6in4 ${version} packet decoder page)`);
