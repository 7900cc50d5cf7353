// The hot path never allocates (STYLE habit 9), proven on the compiled module itself: in
// the release .wat, no function reachable from a per-packet export calls the allocator
// (AssemblyScript's TLSF heap.alloc / __alloc / __new) or grows memory. Runtime checks
// (memory size unchanged over 100,000 packets) are in esp.test.ts and aes-gcm.api.test.ts.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const wat = readFileSync(new URL("../build/ipsec6in4.wat", import.meta.url), "utf8");

/** name → names it calls, and whether it contains memory.grow. */
function callGraph(text: string): Map<string, { calls: Set<string>; grows: boolean }> {
  const g = new Map<string, { calls: Set<string>; grows: boolean }>();
  const starts = [...text.matchAll(/^ \(func (\$\S+)/gm)];
  starts.forEach((m, i) => {
    const body = text.slice(m.index!, i + 1 < starts.length ? starts[i + 1].index! : text.length);
    const calls = new Set([...body.matchAll(/\bcall (\$\S+?)\)?$/gm)].map((c) => c[1].replace(/\)+$/, "")));
    g.set(m[1], { calls, grows: /\bmemory\.grow\b/.test(body) });
  });
  return g;
}

function reachable(g: Map<string, { calls: Set<string> }>, from: string): Set<string> {
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const c of g.get(f)?.calls ?? []) todo.push(c);
  }
  return seen;
}

const HOT = [
  "$assembly/gcm/gcmSeal",
  "$assembly/gcm/gcmOpen",
  "$assembly/gcm/gcmBatchSeal",
  "$assembly/gcm/gcmBatchOpen",
  "$assembly/gcm/gcmBatchCounters",
  "$assembly/gcm/gcmKeystream",
  "$assembly/gcm/gcmBatchSealKs",
  "$assembly/gcm/gcmBatchOpenKs",
  "$assembly/esp/esp/espProtectBatch",
  "$assembly/esp/esp/espUnprotectBatch",
  "$assembly/esp/esp/espUnprotectCounters",
  "$assembly/esp/esp/espUnprotectBatchKs",
  "$assembly/esp/rfc3948/udpDemuxBatch",
  "$assembly/chacha20poly1305/ccpSeal",
  "$assembly/chacha20poly1305/ccpOpen",
  "$assembly/chacha20poly1305/ccpBatchSeal",
  "$assembly/chacha20poly1305/ccpBatchOpen",
  "$assembly/gcm/gmacSign",
  "$assembly/gcm/gmacVerify",
  "$assembly/pipeline/outbound/pipeOutbound",
  "$assembly/pipeline/inbound/pipeInbound",
  "$assembly/ingress/prefix/lpmLookup",
  "$assembly/ingress/prefix/lpmLookupBatch",
];

describe("hot path in the release .wat", () => {
  const g = callGraph(wat);

  it("the call graph was read (sanity: the allocator itself is found and does allocate)", () => {
    expect(g.size).toBeGreaterThan(30);
    expect(g.get("$assembly/esp/esp/espUnprotectBatch")?.calls.size).toBeGreaterThan(0);
    const alloc = reachable(g, "$assembly/index/heap_alloc");
    expect([...alloc].some((f) => f.includes("tlsf"))).toBe(true);
    expect([...alloc].some((f) => g.get(f)?.grows)).toBe(true);
  });

  it.each(HOT)("%s reaches no allocator and no memory.grow", (fn) => {
    expect(g.has(fn), `${fn} is in the module`).toBe(true);
    const r = reachable(g, fn);
    const bad = [...r].filter((f) => /tlsf|heap\.alloc|__alloc|__new|__realloc/.test(f) || g.get(f)?.grows);
    expect(bad).toEqual([]);
  });
});
