// Longest-prefix-match tables (assembly/ingress/prefix.ts) for IPv6 ingress filtering on a
// tunnel (RFC 4891 §2, §3.1) and IPv4: a property test against a naive JS reference with
// inserts and removes interleaved, adversarial lookups at every prefix boundary, exact
// codes for bad input with the table unchanged, 100 000 prefixes, and batch lookups.
import { beforeAll, describe, expect, it } from "vitest";
import { newCore, type Core } from "../src/core/wasm.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";

let core: Core;
let X: any;
beforeAll(async () => {
  core = await newCore();
  X = core.x as any;
});

const W = { 4: 32, 6: 128 } as const;
type Fam = 4 | 6;
const toBig = (b: Uint8Array) => b.reduce((a, v) => (a << 8n) | BigInt(v), 0n);
function toBytes(v: bigint, fam: Fam): Uint8Array {
  const n = W[fam] / 8;
  const o = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) { o[i] = Number(v & 0xffn); v >>= 8n; }
  return o;
}
const maskOf = (fam: Fam, len: number) => (len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(W[fam] - len));

/** The naive reference: a map per length, lookup tries every length from longest. */
class Ref {
  byLen = new Map<number, Map<bigint, number>>();
  constructor(readonly fam: Fam) {}
  insert(k: bigint, len: number, v: number) {
    if (!this.byLen.has(len)) this.byLen.set(len, new Map());
    this.byLen.get(len)!.set(k, v);
  }
  remove(k: bigint, len: number) { return this.byLen.get(len)?.delete(k) ?? false; }
  lookup(a: bigint): number {
    const lens = [...this.byLen.keys()].sort((x, y) => y - x);
    for (const len of lens) {
      const m = this.byLen.get(len)!;
      if (m.size) { const v = m.get(a & maskOf(this.fam, len)); if (v !== undefined) return v; }
    }
    return -1;
  }
  get size() { let n = 0; for (const m of this.byLen.values()) n += m.size; return n; }
  entries() { const out: [bigint, number, number][] = []; for (const [len, m] of this.byLen) for (const [k, v] of m) out.push([k, len, v]); return out; }
}

class Table {
  h: number;
  buf: number;
  constructor(readonly fam: Fam) {
    this.h = X.lpmCreate(fam);
    expect(this.h).toBeGreaterThan(0);
    this.buf = core.alloc(16);
  }
  private load(k: bigint | Uint8Array) {
    core.u8.set(typeof k === "bigint" ? toBytes(k, this.fam) : k, this.buf);
    return this.buf;
  }
  insert(k: bigint | Uint8Array, len: number, v: number): number { return X.lpmInsert(this.h, this.load(k), len, v); }
  remove(k: bigint | Uint8Array, len: number): number { return X.lpmRemove(this.h, this.load(k), len); }
  lookup(a: bigint): number { return X.lpmLookup(this.h, this.load(a)); }
  batch(addrs: bigint[]): number[] {
    const n = addrs.length, al = W[this.fam] / 8;
    const A = core.alloc(n * al), O = core.alloc(n * 4);
    addrs.forEach((a, i) => core.u8.set(toBytes(a, this.fam), A + i * al));
    expect(X.lpmLookupBatch(this.h, A, n, O)).toBe(n);
    const r = Array.from(new Int32Array(core.u8.buffer, O, n));
    // The pointer form over the same addresses, in reverse order.
    const P = core.alloc(n * 4);
    for (let i = 0; i < n; i++) core.i32[(P >> 2) + i] = A + (n - 1 - i) * al;
    expect(X.lpmLookupPtrs(this.h, P, n, O)).toBe(n);
    expect(Array.from(new Int32Array(core.u8.buffer, O, n)).reverse()).toEqual(r);
    core.x.heap_free(A); core.x.heap_free(O); core.x.heap_free(P);
    return r;
  }
  destroy() { expect(X.lpmDestroy(this.h)).toBe(0); core.x.heap_free(this.buf); }
}

function randKey(rng: Prng, fam: Fam): bigint {
  let v = 0n;
  for (let i = 0; i < W[fam] / 32; i++) v = (v << 32n) | BigInt(rng.u32());
  return v;
}
/** Lookups that hit the edges: first and last address of each prefix, and one outside each side. */
function adversarial(ref: Ref, rng: Prng, n: number): bigint[] {
  const top = (1n << BigInt(W[ref.fam])) - 1n;
  const out: bigint[] = [0n, top, 1n, top - 1n];
  const es = ref.entries();
  for (let i = 0; i < n && es.length; i++) {
    const [k, len] = es[rng.int(0, es.length - 1)];
    const last = k | (top & ~maskOf(ref.fam, len));
    for (const a of [k, last, k - 1n, last + 1n, k | (randKey(rng, ref.fam) & ~maskOf(ref.fam, len))]) if (a >= 0n && a <= top) out.push(a);
  }
  return out;
}

describe("LPM codes and bad input (table unchanged)", () => {
  it("code names", () => {
    expect([X.LPM_NO_MATCH, X.LPM_ERR_BAD_FAMILY, X.LPM_ERR_BAD_LENGTH, X.LPM_ERR_HOST_BITS, X.LPM_ERR_BAD_VALUE, X.LPM_ERR_NOT_FOUND, X.LPM_ERR_BAD_TABLE].map((g) => g.value))
      .toEqual([-1, -51, -52, -53, -54, -55, -56]);
  });
  it("lpmCreate rejects families other than 4 and 6", () => {
    for (const f of [0, 5, 41, -1, 10]) expect(X.lpmCreate(f)).toBe(-51);
  });
  it.each([4, 6] as Fam[])("IPv%i: every bad insert/remove has its code and changes nothing", (fam) => {
    const t = new Table(fam);
    const w = W[fam];
    const p = 0xabn << BigInt(w - 8); // ab00…/8
    expect(t.insert(p, 8, 7)).toBe(0);
    expect(t.insert(p, 8, 9)).toBe(1); // replace the value
    const bytesBefore = X.lpmBytes(t.h);
    const probe = [p, p | 1n, 0n];
    const before = probe.map((a) => t.lookup(a));
    expect(t.insert(p, w + 1, 1)).toBe(-52);
    expect(t.insert(p, -1, 1)).toBe(-52);
    expect(t.insert(p | 1n, 8, 1)).toBe(-53); // host bit set
    expect(t.insert(p, 7, 1)).toBe(-53); // 0xab has its 8th bit set
    expect(t.insert(p, 0, 1)).toBe(-53);
    expect(t.insert(p, 8, 0x80000000)).toBe(-54);
    expect(t.insert(p, 8, 0xffffffff)).toBe(-54);
    expect(t.remove(p, 9)).toBe(-55);
    expect(t.remove(p, w + 1)).toBe(-52);
    expect(t.remove(p | 1n, 8)).toBe(-53);
    expect(t.remove(0n, 0)).toBe(-55);
    expect(X.lpmCount(t.h)).toBe(1);
    expect(X.lpmBytes(t.h)).toBe(bytesBefore);
    expect(probe.map((a) => t.lookup(a))).toEqual(before);
    expect(before).toEqual([9, 9, -1]);
    t.destroy();
  });
  it("dead or bogus handles → LPM_ERR_BAD_TABLE, no trap", () => {
    const h = X.lpmCreate(6);
    expect(X.lpmDestroy(h)).toBe(0);
    const buf = core.alloc(16);
    for (const bad of [h, 0, -1, -56, 1, 17, 0x7ffffff0]) {
      expect(X.lpmLookup(bad, buf)).toBe(-56);
      expect(X.lpmInsert(bad, buf, 0, 1)).toBe(-56);
      expect(X.lpmRemove(bad, buf, 0)).toBe(-56);
      expect(X.lpmLookupBatch(bad, buf, 1, buf)).toBe(-56);
      expect(X.lpmCount(bad)).toBe(-56);
      expect(X.lpmClear(bad)).toBe(-56);
      expect(X.lpmDestroy(bad)).toBe(-56);
    }
    core.x.heap_free(buf);
  });
});

describe("LPM against a naive reference", () => {
  it.each([
    [6, 1], [6, 2], [6, 3], [4, 1], [4, 2], [4, 3],
  ] as [Fam, number][])("IPv%i seed %i: random prefixes of every length, inserts and removes interleaved", (fam, s) => {
    const seed = seedFromEnv(0x4891 * s + fam);
    const rng = new Prng(seed);
    const t = new Table(fam);
    const ref = new Ref(fam);
    const w = W[fam];
    const empty = X.lpmBytes(t.h);
    // Prefixes clustered under a few roots so that they nest (the interesting case).
    const roots = Array.from({ length: 4 }, () => randKey(rng, fam));
    const pick = () => {
      const len = rng.int(0, w);
      const base = rng.int(0, 3) === 0 ? randKey(rng, fam) : roots[rng.int(0, 3)] ^ (randKey(rng, fam) >> BigInt(rng.int(8, w)));
      return [base & maskOf(fam, len), len] as const;
    };
    for (let step = 0; step < 3000; step++) {
      const op = rng.int(0, 9);
      if (op < 6) {
        const [k, len] = pick();
        const v = rng.int(0, 0x7fffffff);
        const had = ref.byLen.get(len)?.has(k) ?? false;
        expect(t.insert(k, len, v), `seed ${seed} step ${step}`).toBe(had ? 1 : 0);
        ref.insert(k, len, v);
      } else if (op < 9) {
        const es = ref.entries();
        if (es.length && rng.int(0, 3) > 0) {
          const [k, len] = es[rng.int(0, es.length - 1)];
          expect(t.remove(k, len), `seed ${seed} step ${step}`).toBe(0);
          ref.remove(k, len);
        } else {
          const [k, len] = pick();
          const had = ref.remove(k, len);
          expect(t.remove(k, len)).toBe(had ? 0 : -55);
        }
      } else {
        for (const a of adversarial(ref, rng, 8)) expect(t.lookup(a), `seed ${seed} step ${step} addr ${a.toString(16)}`).toBe(ref.lookup(a));
      }
      expect(X.lpmCount(t.h)).toBe(ref.size);
    }
    const addrs = [...adversarial(ref, rng, 400), ...Array.from({ length: 300 }, () => randKey(rng, fam))];
    expect(t.batch(addrs)).toEqual(addrs.map((a) => ref.lookup(a)));
    // Remove everything: the table returns to its empty size, no node left behind.
    for (const [k, len] of ref.entries()) { expect(t.remove(k, len)).toBe(0); ref.remove(k, len); }
    expect(X.lpmNodes(t.h)).toBe(0);
    expect(X.lpmCount(t.h)).toBe(0);
    expect(X.lpmBytes(t.h)).toBe(empty);
    expect(t.lookup(randKey(rng, fam))).toBe(-1);
    t.destroy();
  });
  it.each([4, 6] as Fam[])("IPv%i: nested chain /0 ⊂ /1 ⊂ … ⊂ /max, removed in random order", (fam) => {
    const rng = new Prng(seedFromEnv(0x6040 + fam));
    const t = new Table(fam);
    const ref = new Ref(fam);
    const a = randKey(rng, fam);
    for (let len = 0; len <= W[fam]; len++) { t.insert(a & maskOf(fam, len), len, len); ref.insert(a & maskOf(fam, len), len, len); }
    const order = Array.from({ length: W[fam] + 1 }, (_, i) => i).sort(() => rng.int(0, 2) - 1);
    for (const len of order) {
      // Every address that shares exactly i leading bits with a sees the longest present prefix ≤ i.
      for (let i = 0; i <= W[fam]; i += rng.int(1, 5)) {
        const flip = i === W[fam] ? a : a ^ (1n << BigInt(W[fam] - 1 - i));
        expect(t.lookup(flip)).toBe(ref.lookup(flip));
      }
      expect(t.remove(a & maskOf(fam, len), len)).toBe(0);
      ref.remove(a & maskOf(fam, len), len);
    }
    expect(X.lpmNodes(t.h)).toBe(0);
    t.destroy();
  });
});

describe("LPM path compression and inline values", () => {
  // Ingress filters often map many prefixes to the same value (allow): nodes then hold one
  // (length, value) inline across several prefixes, and removals split and re-merge paths.
  it.each([
    [6, 1], [6, 2], [4, 1], [4, 2],
  ] as [Fam, number][])("IPv%i seed %i: few distinct values, long chains of splits and merges", (fam, s) => {
    const seed = seedFromEnv(0x1e55 * s + fam);
    const rng = new Prng(seed);
    const t = new Table(fam);
    const ref = new Ref(fam);
    const w = W[fam];
    const empty = X.lpmBytes(t.h);
    const root = randKey(rng, fam);
    // Prefixes that share long runs with one root (deep compressed paths that split and merge).
    const pick = () => {
      const len = rng.int(0, 3) === 0 ? rng.int(0, w) : rng.int(Math.max(0, w - 80), w);
      const k = root ^ (randKey(rng, fam) >> BigInt(rng.int(Math.min(16, w - 1), w)));
      return [k & maskOf(fam, len), len] as const;
    };
    for (let step = 0; step < 2500; step++) {
      const op = rng.int(0, 9);
      if (op < 5) {
        const [k, len] = pick();
        const v = rng.int(0, 2);
        const had = ref.byLen.get(len)?.has(k) ?? false;
        expect(t.insert(k, len, v), `seed ${seed} step ${step}`).toBe(had ? 1 : 0);
        ref.insert(k, len, v);
      } else if (op < 9) {
        const es = ref.entries();
        if (es.length) {
          const [k, len] = es[rng.int(0, es.length - 1)];
          expect(t.remove(k, len), `seed ${seed} step ${step}`).toBe(0);
          ref.remove(k, len);
        }
      } else {
        for (const a of adversarial(ref, rng, 8)) expect(t.lookup(a), `seed ${seed} step ${step} addr ${a.toString(16)}`).toBe(ref.lookup(a));
      }
    }
    const addrs = [...adversarial(ref, rng, 400), ...Array.from({ length: 100 }, () => randKey(rng, fam))];
    expect(t.batch(addrs)).toEqual(addrs.map((a) => ref.lookup(a)));
    for (const [k, len] of ref.entries()) { expect(t.remove(k, len)).toBe(0); ref.remove(k, len); }
    expect(X.lpmNodes(t.h)).toBe(0);
    expect(X.lpmBytes(t.h)).toBe(empty);
    t.destroy();
  });
  it("a lone /128 takes few nodes; a second /128 splits the path, removing it merges back", () => {
    const t = new Table(6);
    const a = 0x20010db8_00000000_00000000_00000001n;
    expect(t.insert(a, 128, 1)).toBe(0);
    const one = X.lpmNodes(t.h);
    expect(one).toBeLessThanOrEqual(3); // 112 bits below the root: ≤ 3 compressed nodes, not 19
    const b = a ^ (1n << 20n);
    expect(t.insert(b, 128, 2)).toBe(0);
    expect([t.lookup(a), t.lookup(b), t.lookup(a ^ 1n), t.lookup(a ^ (1n << 100n))]).toEqual([1, 2, -1, -1]);
    expect(t.insert(a & maskOf(6, 64), 64, 3)).toBe(0); // ends inside a skipped run: split
    expect([t.lookup(a), t.lookup(b), t.lookup(a ^ 1n), t.lookup(a ^ (1n << 100n))]).toEqual([1, 2, 3, -1]);
    expect(t.remove(a & maskOf(6, 64), 64)).toBe(0);
    expect(t.remove(b, 128)).toBe(0);
    expect(X.lpmNodes(t.h)).toBe(one); // merged back to the compressed shape
    expect([t.lookup(a), t.lookup(b)]).toEqual([1, -1]);
    t.destroy();
  });
});

describe("LPM at scale", () => {
  it.each([6, 4] as Fam[])("IPv%i: 100 000 prefixes inserted well under a second, batch lookups agree", (fam) => {
    const rng = new Prng(seedFromEnv(100_000 + fam));
    const t = new Table(fam);
    const ref = new Ref(fam);
    const w = W[fam];
    const keys: [bigint, number][] = [];
    for (let i = 0; i < 100_000; i++) {
      const len = fam === 6 ? rng.pick([32, 40, 44, 48, 48, 48, 56, 56, 60, 64, 64, 128, rng.int(0, 128)]) : rng.pick([24, 24, 24, 16, 20, 28, 32, rng.int(0, 32)]);
      keys.push([randKey(rng, fam) & maskOf(fam, len), len]);
    }
    // Stage the prefixes in wasm memory first so the timing is the table's.
    const al = w / 8;
    const P = core.alloc(keys.length * al);
    keys.forEach(([k], i) => core.u8.set(toBytes(k, fam), P + i * al));
    const t0 = performance.now();
    for (let i = 0; i < keys.length; i++) X.lpmInsert(t.h, P + i * al, keys[i][1], i);
    const ms = performance.now() - t0;
    keys.forEach(([k, len], i) => ref.insert(k, len, i));
    expect(X.lpmCount(t.h)).toBe(ref.size);
    expect(ms).toBeLessThan(1000);
    const addrs = [...adversarial(ref, rng, 1500), ...Array.from({ length: 2000 }, () => randKey(rng, fam))];
    expect(t.batch(addrs)).toEqual(addrs.map((a) => ref.lookup(a)));
    console.log(`IPv${fam}: 100 000 inserts in ${ms.toFixed(0)} ms, ${(X.lpmBytes(t.h) / 2 ** 20).toFixed(1)} MiB, ${X.lpmNodes(t.h)} nodes`);
    // Clear frees every node; the table stays usable.
    expect(X.lpmClear(t.h)).toBe(0);
    expect(X.lpmNodes(t.h)).toBe(0);
    expect(X.lpmCount(t.h)).toBe(0);
    expect(t.lookup(addrs[0])).toBe(-1);
    expect(t.insert(0n, 0, 5)).toBe(0);
    expect(t.lookup(addrs[0])).toBe(5);
    core.x.heap_free(P);
    t.destroy();
  });
});
