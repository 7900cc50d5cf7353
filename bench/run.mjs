#!/usr/bin/env node
// npm run bench -- <suite> [--quick]   suites: aead, esp, pipeline, decode, ike
// Each suite measures contenders in one process, interleaved round by round, and reports
// ratios against a baseline measured in the same rounds (never absolute timings alone).
const [suite = "aead", ...rest] = process.argv.slice(2);
const suites = {
  aead: () => import("./aead.mjs"),
  esp: () => import("./esp.mjs"),
  pipeline: () => import("./pipeline.mjs"),
  decode: () => import("./decode.mjs"),
  ike: () => import("./ike.mjs"),
  dataplane: () => import("./dataplane.mjs"),
};
if (!suites[suite]) {
  console.error(`bench: unknown suite '${suite}' (have: ${Object.keys(suites).join(", ")})`);
  process.exit(2);
}
const mod = await suites[suite]();
await mod.run({ quick: rest.includes("--quick"), page: !rest.includes("--no-page") });
