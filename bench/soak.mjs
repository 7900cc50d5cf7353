#!/usr/bin/env node
// npm run soak [-- --packets N]
// The full soak of test/soak.test.ts: 10,000,000 packets through the full pipeline (both
// directions, IMIX, outer fragments, SA rekeys) and 100,000 SAs installed and removed 10 times,
// in one vitest process so that its RSS is what is measured. Prints packets/s and wasm memory,
// RSS and JS heap after warm-up and at the end, where the RSS went (V8's young and old generation,
// the rest) every 500,000 packets; writes the report as JSON. What keeps RSS flat after warm-up:
// the header of test/soak.test.ts.
// IPSEC6IN4_SEED replays a run; SOAK_* variables override the sizes.
import { spawnSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { machine } from "./harness.mjs";

const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const out = new URL("../scratch/reliability/", import.meta.url);
mkdirSync(out, { recursive: true });
const file = new URL("soak.json", out).pathname;
const env = {
  ...process.env,
  SOAK_PACKETS: arg("packets", process.env.SOAK_PACKETS ?? "10000000"),
  SOAK_SA_CYCLES: process.env.SOAK_SA_CYCLES ?? "10",
  SOAK_REKEY: process.env.SOAK_REKEY ?? "1000000",
  SOAK_SAMPLES: "1",
  SOAK_REPORT: file,
};
const m = machine();
console.log(`soak: ${Number(env.SOAK_PACKETS).toLocaleString("en-US")} packets, ${env.SOAK_SA_CYCLES} × 100,000 SAs — ${m.cpu} ×${m.cores}, Node ${m.node}`);
const r = spawnSync("npx", ["vitest", "run", "test/soak.test.ts"], { env, stdio: "inherit" });
const rep = JSON.parse(readFileSync(file, "utf8"));
const p = rep.pipeline;
console.log(`\npipeline: ${p.packets.toLocaleString("en-US")} packets, ${p.delivered.toLocaleString("en-US")} delivered, ${p.packetsPerSecond.toLocaleString("en-US")} packets/s (after warm-up), ${p.rekeys} rekeys, ${p.outerFragmented.toLocaleString("en-US")} in outer fragments, drops ${JSON.stringify(p.drops)}`);
console.log(`  after warm-up (${p.afterWarmup.packets.toLocaleString("en-US")} packets, after a forced GC): wasm ${p.afterWarmup.wasmMiB} MiB, RSS ${p.afterWarmup.rssMiB} MiB, heap ${p.afterWarmup.heapMiB} MiB`);
console.log(`  end (after a forced GC): wasm ${p.end.wasmMiB} MiB, RSS ${p.end.rssMiB} MiB (peak ${p.end.peakRssMiB}), heap ${p.end.heapMiB} MiB`);
console.log(`  RSS sampled without forced GCs: ${p.rssSampledMiB.warm} MiB at the end of warm-up, peak ${p.rssSampledMiB.peak} MiB, last ${p.rssSampledMiB.last} MiB (rise ${p.rssGrowthMiB} MiB)`);
console.log(`  after forced GCs: V8's committed heap grew ${p.heapTotalGrowthMiB} MiB (young generation ${p.afterWarmup.newSpaceMiB} → ${p.end.newSpaceMiB} MiB, old space ${p.afterWarmup.oldSpaceMiB} → ${p.end.oldSpaceMiB} MiB); outside V8's heap ${p.outsideHeapSampledMiB.first} → ${p.outsideHeapSampledMiB.last} MiB (sampled without a forced GC)`);
if (p.samples) for (const x of p.samples) console.log(`    ${String(x.packets).padStart(9)} packets: RSS ${x.rss} MiB = heap ${x.heapTotal} (new ${x.newSpace}, old ${x.oldSpace}, used ${x.heapUsed}) + outside ${x.outsideHeap} MiB`);
console.log(`SAs: ${rep.sas.sas.toLocaleString("en-US")} × ${rep.sas.cycles} cycles (${rep.sas.bytesPerSa} B per record)`);
for (const c of rep.sas.perCycle) console.log(`  cycle ${String(c.cycle).padStart(2)}: install ${c.installMs} ms, remove ${c.removeMs} ms, wasm ${c.wasmMiB} MiB, RSS ${c.rssMiB} MiB, heap ${c.heapMiB} MiB`);
console.log(`\nwrote ${file}`);
process.exit(r.status ?? 1);
