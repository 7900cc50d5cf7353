// The order a tunnel's outbound SAs are tried in (src/outbound-sas.ts): most specific first,
// newest first among equals, no selectors last — against a plain sorted array on random
// inserts, re-inserts and removals, and with 100,000 SAs on one tunnel.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OutboundSas, selectorBreadth, type OutboundNode } from "../src/outbound-sas.js";
import type { SaHandle } from "../src/esp.js";
import { parsePrefix, prefixRange } from "../src/addr.js";
import { seedFromEnv } from "./helpers/prng.js";

const sa = (index: number) => ({ index }) as unknown as SaHandle;

describe("outbound SA order of a tunnel", () => {
  it("agrees with a sorted array (breadth ascending, newest first among equals) on random inserts and removals", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 19 }), fc.constantFrom(0, 64, 96, 128, 192, 256, Infinity)), { maxLength: 300 }), (ops) => {
        const list = new OutboundSas();
        const nodes = new Map<number, OutboundNode>();
        let model: { i: number; b: number; t: number }[] = [];
        let time = 0;
        for (const [i, b] of ops) {
          const old = nodes.get(i);
          if (old) {
            // Present: remove it (and every other time bind it again with the new breadth).
            list.remove(old);
            nodes.delete(i);
            model = model.filter((m) => m.i !== i);
            if (time++ % 2) continue;
          }
          const n: OutboundNode = { sa: sa(i), breadth: b };
          list.insert(n);
          nodes.set(i, n);
          model.push({ i, b, t: time++ });
          const want = [...model].sort((x, y) => x.b - y.b || y.t - x.t).map((m) => m.i);
          expect([...list].map((x) => x.sa.index)).toEqual(want);
          // The links both ways agree with the iteration.
          const back: number[] = [];
          let last: OutboundNode | undefined = list.head;
          while (last?.next) last = last.next;
          for (let x = last; x; x = x.prev) back.push(x.sa.index);
          expect(back.reverse()).toEqual(want);
        }
      }),
      { numRuns: 300, seed: seedFromEnv(4301) },
    );
  });

  it("breadth: a /64 pair is narrower than a /48 pair; no selectors is widest", () => {
    const r = (p: string) => prefixRange(parsePrefix(p)!);
    expect(selectorBreadth({ local: [r("2001:db8:1:1::/64")], remote: [r("2001:db8:2:1::/64")] })).toBe(128);
    expect(selectorBreadth({ local: [r("2001:db8:1::/48")], remote: [r("2001:db8:2::/48")] })).toBe(160);
    expect(selectorBreadth(undefined)).toBe(Infinity);
  });

  it("100,000 SAs on one tunnel (the soak binds 50,000): the newest of the narrowest first, every other removed, the rest kept", () => {
    // An array re-sorted and re-linked on every bind made the soak's SA cycles take minutes.
    const list = new OutboundSas();
    const nodes = Array.from({ length: 100_000 }, (_, i) => ({ sa: sa(i), breadth: i % 3 === 0 ? 128 : 160 }) as OutboundNode);
    for (const n of nodes) list.insert(n);
    expect(list.head!.sa.index).toBe(99_999); // the newest of the narrowest
    for (let i = 0; i < nodes.length; i += 2) list.remove(nodes[i]);
    let count = 0;
    for (const _ of list) count++;
    expect(count).toBe(50_000);
  });
});
