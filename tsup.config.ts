import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
const define = { __VERSION__: JSON.stringify(version) };

export default defineConfig([
  {
    entry: { index: "src/index.ts", cli: "src/cli.ts", "worker-main": "src/node/worker-main.ts" },
    format: ["esm", "cjs"],
    dts: { entry: { index: "src/index.ts" } },
    target: "node20",
    platform: "node",
    sourcemap: true,
    clean: false,
    splitting: false,
    define,
  },
  {
    entry: { browser: "src/browser.ts" },
    format: ["esm"],
    dts: true,
    target: "es2022",
    platform: "browser",
    sourcemap: true,
    splitting: false,
    define,
  },
]);
