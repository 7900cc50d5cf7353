// Interleaved measurement on top of benchmark.js: every round runs every contender once
// (benchmark.js decides iterations and gives the statistics), rounds alternate the order,
// and the reported rate is the median over rounds. Baseline and contenders thus share the
// machine's state (turbo, other load) as closely as one process can.
import os from "node:os";
import { writeFileSync, mkdirSync } from "node:fs";
import Benchmark from "benchmark";

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
  };
}

function once(fn, opts) {
  return new Promise((resolve, reject) => {
    const b = new Benchmark({ ...opts, fn: fn.defer ? (d) => fn().then(() => d.resolve()) : fn, defer: !!fn.defer });
    b.on("complete", () => (b.error ? reject(b.error) : resolve(b.hz)));
    b.on("error", () => reject(b.error));
    b.run({ async: false });
  });
}

/**
 * contenders: [{ name, fn, units }] where one call of fn processes `units` packets;
 * fn.defer = true marks an async fn. Returns { name: packetsPerSecond (median) }.
 */
export async function interleave(contenders, { rounds, maxTime }) {
  const rates = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...contenders].reverse() : contenders;
    for (const c of order) {
      const hz = await once(c.fn, { maxTime, minSamples: 3, initCount: 1 });
      rates[c.name].push(hz * c.units);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
}

export function save(name, data) {
  const dir = new URL("./results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  return file.pathname;
}

export const fmt = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
