// The ESP anti-replay window and ESN inference of assembly/esp/replay.ts (RFC 4303 §3.4.3,
// Appendix A2; RFC 6479 bitmap):
//   1. numbered sequence tables (in the manner of wireguard-go replay/replay_test.go) for
//      W = 32, 64, 1024, 65536;
//   2. replayCheck is pure: the state bytes are identical before and after every call;
//   3. ESN: every region of RFC 4303 A2's Figures 1 and 2 (Case A / Case B), T near 2^32
//      boundaries, and the ends of the 64-bit space;
//   4. W = 0 (replay checking disabled) accepts everything, replays included;
//   5. randomized runs against a reference model written here (a Set of seen numbers and T),
//      with reordering, replays, forgeries and batched check-then-commit.
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Prng, seedFromEnv } from "./helpers/prng.js";

// ---- Loading the exports ----

interface ReplayExports {
  memory: WebAssembly.Memory;
  replayStateBytes(windowBits: number): number;
  replayInit(st: number, windowBits: number, esn: number): number;
  replayCheck(st: number, seqLow: number): bigint;
  replayCommit(st: number, seq: bigint): void;
  REPLAY_ERR_REPLAYED: WebAssembly.Global;
  REPLAY_ERR_TOO_OLD: WebAssembly.Global;
  REPLAY_ERR_ZERO: WebAssembly.Global;
  REPLAY_ERR_CYCLED: WebAssembly.Global;
  REPLAY_T: WebAssembly.Global;
  REPLAY_W: WebAssembly.Global;
  REPLAY_FLAGS: WebAssembly.Global;
  REPLAY_BITMAP: WebAssembly.Global;
  REPLAY_FLAG_ESN: WebAssembly.Global;
  REPLAY_W_MIN: WebAssembly.Global;
  REPLAY_W_MAX: WebAssembly.Global;
  REPLAY_W_DEFAULT: WebAssembly.Global;
  REPLAY_ESN_W_DISABLED: WebAssembly.Global;
  REPLAY_SEQ_HI_MAX: WebAssembly.Global;
}

interface ReplayCore {
  x: ReplayExports;
  readonly u8: Uint8Array;
  alloc(len: number): number;
}

/**
 * The project's module (src/core/wasm.ts newCore(), which exports assembly/esp/replay.ts via
 * assembly/index.ts). To test a variant of replay.ts alone, set IPSEC6IN4_REPLAY_WASM=<file>
 * to a standalone build of it (`npx asc assembly/esp/replay.ts --enable simd -O3 --runtime stub
 * -o FILE`), given a bump allocator over grown memory.
 */
async function loadReplayCore(): Promise<ReplayCore> {
  const forced = process.env.IPSEC6IN4_REPLAY_WASM;
  if (forced) return standaloneCore(forced);
  const { newCore } = await import("../src/core/wasm.js");
  return (await newCore()) as unknown as ReplayCore;
}

async function standaloneCore(path: string | URL): Promise<ReplayCore> {
  const { instance } = await WebAssembly.instantiate(readFileSync(path), {
    env: { abort: () => { throw new Error("abort"); } },
  });
  const x = instance.exports as unknown as ReplayExports;
  return {
    x,
    get u8() {
      return new Uint8Array(x.memory.buffer);
    },
    alloc(len: number): number {
      const pages = Math.ceil((len + 16) / 65536);
      return x.memory.grow(pages) * 65536 + 16; // 16-aligned, after a 16-byte gap
    },
  };
}

let core: ReplayCore;
let REPLAYED: bigint, TOO_OLD: bigint, ZERO: bigint, CYCLED: bigint;

beforeAll(async () => {
  core = await loadReplayCore();
  REPLAYED = core.x.REPLAY_ERR_REPLAYED.value as bigint;
  TOO_OLD = core.x.REPLAY_ERR_TOO_OLD.value as bigint;
  ZERO = core.x.REPLAY_ERR_ZERO.value as bigint;
  CYCLED = core.x.REPLAY_ERR_CYCLED.value as bigint;
});

// ---- A replay state in wasm memory, with every check verified to be pure ----

const MAX_STATE = 16 + (65536 / 64 + 1) * 8 + 16;
let arena = 0; // one region reused by every test (the biggest state fits)

class Window {
  readonly st: number;
  readonly bytes: number;

  constructor(readonly w: number, readonly esn: boolean) {
    if (arena === 0) arena = core.alloc(MAX_STATE + 64);
    this.st = arena;
    this.bytes = core.x.replayStateBytes(w);
    expect(core.x.replayInit(this.st, w, esn ? 1 : 0)).toBe(1);
  }

  state(): Uint8Array {
    return core.u8.slice(this.st, this.st + this.bytes);
  }

  /** T as stored (u64 little-endian at REPLAY_T). */
  top(): bigint {
    const u8 = core.u8;
    return new DataView(u8.buffer, u8.byteOffset).getBigUint64(this.st + (core.x.REPLAY_T.value as number), true);
  }

  /** replayCheck, asserting that the state bytes did not change (STYLE habit 5: pure). */
  check(seqLow: number): bigint {
    const before = this.state();
    const r = core.x.replayCheck(this.st, seqLow >>> 0);
    const u8 = core.u8;
    const after = Buffer.from(u8.buffer, u8.byteOffset + this.st, this.bytes);
    if (!after.equals(before)) {
      throw new Error(`replayCheck(${seqLow}) changed the state (W=${this.w}, esn=${this.esn})`);
    }
    return r;
  }

  commit(seq: bigint): void {
    core.x.replayCommit(this.st, seq);
  }

  /** Check, and commit when accepted, as a receiver whose ICV always verifies would. */
  receive(seqLow: number): bigint {
    const r = this.check(seqLow);
    if (r >= 0n) this.commit(r);
    return r;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** For long loops: collect the lines that differ and assert once (an expect() per line is slow). */
class Diffs {
  readonly list: string[] = [];
  eq(got: bigint, want: bigint, what: string): void {
    if (got !== want && this.list.length < 20) this.list.push(`${what}: got ${got}, want ${want}`);
  }
}

const OK = "ok" as const;
type Expect = typeof OK | "REPLAYED" | "TOO_OLD" | "ZERO" | "CYCLED" | bigint;

/** The code replayCheck must return for a named outcome. */
function codeOf(e: Exclude<Expect, bigint | typeof OK>): bigint {
  return { REPLAYED, TOO_OLD, ZERO, CYCLED }[e];
}

/**
 * Run numbered lines [seqLow, expected] through check (+ commit when accepted). "ok" means
 * accepted as seqLow itself (no ESN); a bigint is the exact 64-bit result expected.
 */
function runTable(win: Window, rows: ReadonlyArray<readonly [number, Expect]>, label: string): void {
  rows.forEach(([seq, want], i) => {
    const got = win.receive(seq);
    const exp = want === OK ? BigInt(seq >>> 0) : typeof want === "bigint" ? want : codeOf(want);
    expect(got, `${label} line ${i + 1}: seq ${seq}`).toBe(exp);
  });
}

const hiLo = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const U32 = 0x1_0000_0000;

// ---- State size, init, layout ----

describe("replayStateBytes / replayInit", () => {
  it("accepts 0 and powers of two 32…65536, refuses everything else", () => {
    const valid = [0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
    for (const w of valid) {
      const blocks = w === 0 ? 0 : Math.ceil(w / 64) + 1; // RFC 6479: one spare block
      const want = Math.ceil((16 + blocks * 8) / 16) * 16;
      expect(core.x.replayStateBytes(w), `W=${w}`).toBe(want);
      expect(core.x.replayStateBytes(w) % 16).toBe(0);
    }
    expect(core.x.replayStateBytes(32)).toBe(32); // 16 header + 2 blocks
    expect(core.x.replayStateBytes(64)).toBe(32);
    expect(core.x.replayStateBytes(1024)).toBe(160); // 16 + 17 × 8 = 152 → 160
    expect(core.x.replayStateBytes(65536)).toBe(8224); // 16 + 1025 × 8
    for (const w of [-1, -64, 1, 2, 16, 31, 33, 48, 63, 65, 96, 1000, 65535, 65537, 131072, 0x40000000, -0x80000000]) {
      expect(core.x.replayStateBytes(w), `W=${w}`).toBe(-1);
    }
  });

  it("exports the layout and the codes as named constants", () => {
    expect(core.x.REPLAY_T.value).toBe(0);
    expect(core.x.REPLAY_W.value).toBe(8);
    expect(core.x.REPLAY_FLAGS.value).toBe(12);
    expect(core.x.REPLAY_BITMAP.value).toBe(16);
    expect(core.x.REPLAY_FLAG_ESN.value).toBe(1);
    expect(core.x.REPLAY_W_MIN.value).toBe(32);
    expect(core.x.REPLAY_W_DEFAULT.value).toBe(64);
    expect(core.x.REPLAY_W_MAX.value).toBe(65536);
    expect((core.x.REPLAY_ESN_W_DISABLED.value as number) >>> 0).toBe(0x80000000);
    expect(core.x.REPLAY_SEQ_HI_MAX.value).toBe(0x7fffffff);
    const codes = [REPLAYED, TOO_OLD, ZERO, CYCLED];
    for (const c of codes) expect(c < 0n).toBe(true);
    expect(new Set(codes).size).toBe(4);
  });

  it("zeroes exactly replayStateBytes(W) bytes of a 0xa5-filled buffer and writes W and ESN", () => {
    const st = core.alloc(MAX_STATE + 64);
    for (const [w, esn] of [[32, 0], [64, 1], [1024, 0], [65536, 1], [0, 1], [0, 0]] as const) {
      const n = core.x.replayStateBytes(w);
      core.u8.fill(0xa5, st, st + n + 32);
      expect(core.x.replayInit(st, w, esn)).toBe(1);
      const u8 = core.u8;
      const dv = new DataView(u8.buffer, u8.byteOffset);
      expect(dv.getBigUint64(st, true)).toBe(0n);
      expect(dv.getUint32(st + 8, true)).toBe(w);
      expect(dv.getUint32(st + 12, true)).toBe(esn);
      for (let i = 16; i < n; i++) expect(u8[st + i], `W=${w} byte ${i}`).toBe(0);
      for (let i = n; i < n + 32; i++) expect(u8[st + i], `W=${w} guard byte ${i}`).toBe(0xa5);
    }
  });

  it("writes nothing for an invalid W", () => {
    const st = core.alloc(256);
    for (const w of [-1, 1, 31, 48, 100, 65537, 131072]) {
      core.u8.fill(0xa5, st, st + 256);
      expect(core.x.replayInit(st, w, 1)).toBe(0);
      expect(core.u8.slice(st, st + 256).every((b) => b === 0xa5), `W=${w}`).toBe(true);
    }
  });
});

// ---- 1. Numbered sequence tables ----

/** Bits the RFC 6479 bitmap holds for window w: (ceil(w/64) + 1) × 64. */
const bitmapBits = (w: number): number => (Math.ceil(w / 64) + 1) * 64;

function sequenceTable(W: number): Array<readonly [number, Expect]> {
  const J = 4 * W + 10 * bitmapBits(W) + 5; // a jump longer than the whole bitmap
  const K = J + bitmapBits(W); // exactly one bitmap further: every block index aliases
  return [
    /*  1 */ [0, "ZERO"], //              RFC 4303 §3.3.3: the first packet is 1
    /*  2 */ [1, OK],
    /*  3 */ [1, "REPLAYED"],
    /*  4 */ [9, OK], //                   ahead: T = 9
    /*  5 */ [8, OK], //                   out of order within the window
    /*  6 */ [7, OK],
    /*  7 */ [7, "REPLAYED"],
    /*  8 */ [W + 1, OK], //               T = W + 1, window [2, W + 1]
    /*  9 */ [W, OK],
    /* 10 */ [W, "REPLAYED"],
    /* 11 */ [W - 1, OK],
    /* 12 */ [2, OK], //                   left edge B = T - W + 1 = 2: just inside
    /* 13 */ [2, "REPLAYED"],
    /* 14 */ [1, "TOO_OLD"], //            just outside (seen before; now left of the window)
    /* 15 */ [0, "ZERO"],
    /* 16 */ [W + 17, OK], //              T = W + 17, window [18, W + 17]
    /* 17 */ [17, "TOO_OLD"], //           just outside
    /* 18 */ [18, OK], //                  just inside
    /* 19 */ [3, "TOO_OLD"],
    /* 20 */ [W + 17, "REPLAYED"],
    /* 21 */ [4 * W, OK], //               jump by more than W
    /* 22 */ [3 * W + 1, OK], //           new left edge, just inside
    /* 23 */ [3 * W, "TOO_OLD"], //        just outside
    /* 24 */ [3 * W + 1, "REPLAYED"],
    /* 25 */ [W + 17, "TOO_OLD"], //       accepted long ago, now far left
    /* 26 */ [4 * W - 1, OK],
    /* 27 */ [J, OK], //                   jump by more than the bitmap: every block cleared
    /* 28 */ [J - W + 1, OK], //           left edge after the jump
    /* 29 */ [J - W, "TOO_OLD"],
    /* 30 */ [J - 1, OK],
    /* 31 */ [J - 1, "REPLAYED"],
    /* 32 */ [J, "REPLAYED"],
    /* 33 */ [K, OK], //                   T + bitmap: lands in T's own block index
    /* 34 */ [J, "TOO_OLD"],
    /* 35 */ [K - 1, OK], //               the block J lived in was cleared, not inherited
    /* 36 */ [K - W + 1, OK],
    /* 37 */ [K + 64, OK], //              exactly one block further
    /* 38 */ [K + 64 - W + 1, OK],
    /* 39 */ [K + 64 - W, "TOO_OLD"],
    /* 40 */ [K, W > 64 ? "REPLAYED" : "TOO_OLD"],
    /* 41 */ [0xfffffffe, OK], //          the last numbers a 32-bit sender may use
    /* 42 */ [0xffffffff, OK],
    /* 43 */ [0xffffffff, "REPLAYED"],
    /* 44 */ [0xfffffffe, "REPLAYED"],
    /* 45 */ [0xffffffff - W + 1, OK], //  left edge at the top of the space
    /* 46 */ [0xffffffff - W, "TOO_OLD"],
    /* 47 */ [0, "ZERO"], //               no wrap without ESN (§3.3.3: must not cycle)
    /* 48 */ [1, "TOO_OLD"],
  ];
}

describe.each([32, 64, 1024, 65536])("sequence table, W = %i", (W) => {
  it("gives each numbered line its expected result (no ESN)", () => {
    const win = new Window(W, false);
    runTable(win, sequenceTable(W), `W=${W}`);
    expect(win.top()).toBe(0xffffffffn);
  });

  it("fills the window in order, then in reverse (bulk)", () => {
    const d = new Diffs();
    let win = new Window(W, false);
    for (let i = 1; i <= W; i++) d.eq(win.receive(i), BigInt(i), `in order ${i}`);
    for (let i = 1; i <= W; i++) d.eq(win.check(i), REPLAYED, `replay ${i}`);
    expect(win.receive(W + 1)).toBe(BigInt(W + 1));
    expect(win.check(1)).toBe(TOO_OLD);
    expect(win.check(2)).toBe(REPLAYED);

    win = new Window(W, false);
    for (let i = W; i >= 1; i--) d.eq(win.receive(i), BigInt(i), `reverse ${i}`);
    for (let i = W; i >= 1; i--) d.eq(win.check(i), REPLAYED, `replay ${i}`);

    win = new Window(W, false);
    for (let i = W + 1; i >= 2; i--) d.eq(win.receive(i), BigInt(i), `reverse from W + 1: ${i}`);
    expect(win.check(1)).toBe(TOO_OLD);
    expect(d.list).toEqual([]);
  });

  it("after jumps of every size up to 3 bitmaps, the window holds exactly what was received", () => {
    const win = new Window(W, false);
    const received = new Set<number>();
    const jumps = [1, 2, 63, 64, 65, W >> 1, W - 1, W, W + 1, bitmapBits(W) - 1, bitmapBits(W), bitmapBits(W) + 63, 3 * bitmapBits(W)];
    const d = new Diffs();
    let t = 0;
    for (const jump of jumps) {
      for (let s = t + 1; s < t + jump; s += 3) {
        win.receive(s); // a few older numbers, received out of order after T moved
        received.add(s);
      }
      t += jump;
      expect(win.receive(t)).toBe(BigInt(t));
      received.add(t);
      for (let s = Math.max(1, t - W + 1); s <= t; s++) {
        d.eq(win.check(s), received.has(s) ? REPLAYED : BigInt(s), `jump ${jump}: T=${t} s=${s}`);
      }
      if (t - W >= 1) expect(win.check(t - W), `jump ${jump}: T=${t} left`).toBe(TOO_OLD);
    }
    expect(d.list).toEqual([]);
  });
});

// ---- 2. Purity of replayCheck ----

describe("replayCheck is pure", () => {
  it("leaves the state byte-identical for accepted and refused numbers alike", () => {
    for (const W of [32, 64, 1024, 65536]) {
      for (const esn of [false, true]) {
        const win = new Window(W, esn);
        for (let i = 1; i < 3 * W; i += 2) win.receive(i); // every other bit set
        const snap = win.state();
        const probes = [0, 1, 2, 3 * W - 3, 3 * W - 2, 3 * W - 1, 3 * W, 3 * W + 1, 5 * W, W, 0x7fffffff, 0x80000000, 0xffffffff];
        const results = probes.map((s) => win.check(s)); // each check asserts purity itself
        expect(results.some((r) => r === REPLAYED)).toBe(true);
        if (!esn) expect(results.some((r) => r === TOO_OLD)).toBe(true);
        expect(results.some((r) => r === ZERO || r === TOO_OLD || r >= 0n)).toBe(true);
        expect(results.some((r) => r >= 0n)).toBe(true);
        expect(bytesEqual(win.state(), snap)).toBe(true);
        // the same checks again give the same answers: nothing was remembered
        expect(probes.map((s) => win.check(s))).toEqual(results);
      }
    }
  });

  it("a check that is never committed (ICV failure) changes nothing", () => {
    const win = new Window(64, true);
    win.receive(100);
    const snap = win.state();
    expect(win.check(101)).toBe(101n); // forged packet: checked, ICV fails, not committed
    expect(win.check(101)).toBe(101n); // so the genuine one is still accepted
    expect(win.check(0x7fffffff)).toBe(0x7fffffffn); // a forged far jump does not move T
    expect(win.check(50)).toBe(50n);
    expect(bytesEqual(win.state(), snap)).toBe(true);
  });
});

// ---- 3. ESN (RFC 4303 Appendix A2.2) ----

/** Put T at hi:lo as an authenticated packet would (replayCommit only ever moves T up). */
function esnWindowAt(W: number, hi: number, lo: number): Window {
  const win = new Window(W, true);
  win.commit(hiLo(hi, lo));
  expect(win.top()).toBe(hiLo(hi, lo));
  return win;
}

describe.each([32, 64, 1024, 65536])("ESN inference, W = %i", (W) => {
  it("Case A (Tl >= W - 1, Figure 1): window within subspace Th", () => {
    const Th = 5;
    for (const Tl of [W - 1, W, 0x10000 + W, 0x7fffffff, 0x80000000, 0xffffffff - W, 0xfffffffe, 0xffffffff]) {
      const win = esnWindowAt(W, Th, Tl);
      const Bl = Tl - W + 1; // >= 0 in Case A
      const rows: Array<readonly [number, Expect]> = [
        /*  1 */ [Tl, "REPLAYED"], //                      T itself
        /*  2 */ [Bl, hiLo(Th, Bl)], //                    left edge: Seql >= Bl → Seqh = Th
        /*  3 */ [Tl - 1, hiLo(Th, Tl - 1)], //           in the window
        /*  4 */ [Tl + 1, hiLo(Tl === 0xffffffff ? Th + 1 : Th, Tl + 1)], // ahead of T
        /*  5 */ [0xffffffff, Tl === 0xffffffff ? "REPLAYED" : hiLo(Th, 0xffffffff)], // ahead, top of Th
        /*  6 */ [0, Bl === 0 ? hiLo(Th, 0) : hiLo(Th + 1, 0)], // Seql < Bl → Seqh = Th + 1
        /*  7 */ [1, 1 >= Bl ? hiLo(Th, 1) : hiLo(Th + 1, 1)],
        /*  8 */ [Bl - 1, Bl === 0 ? hiLo(Th, 0xffffffff) : hiLo(Th + 1, Bl - 1)], // just left of Bl: wraps
      ];
      rows.forEach(([seq, want], i) => {
        const exp = typeof want === "bigint" ? want : codeOf(want as "REPLAYED");
        expect(win.check(seq >>> 0), `W=${W} Tl=${Tl} line ${i + 1}`).toBe(exp);
      });
    }
  });

  it("Case B (Tl < W - 1, Figure 2): window spans subspaces Th - 1 and Th", () => {
    const Th = 5;
    for (const Tl of [0, 1, W >> 1, W - 2]) {
      const win = esnWindowAt(W, Th, Tl);
      const Bl = (Tl - W + 1 + U32) >>> 0; // mod 2^32: in the top of subspace Th - 1
      const rows: Array<readonly [number, Expect]> = [
        /*  1 */ [Tl, "REPLAYED"],
        /*  2 */ [0xffffffff, hiLo(Th - 1, 0xffffffff)], // window part in Th - 1
        /*  3 */ [Bl, hiLo(Th - 1, Bl)], //                 left edge: Seql >= Bl → Seqh = Th - 1
        /*  4 */ [Bl - 1, hiLo(Th, Bl - 1)], //             Seql < Bl → Seqh = Th: far ahead
        /*  5 */ [Tl + 1, hiLo(Th, Tl + 1)], //             ahead of T
        /*  6 */ [0x80000000, hiLo(Th, 0x80000000)],
        /*  7 */ [0, Tl === 0 ? "REPLAYED" : hiLo(Th, 0)], // window part in Th
      ];
      rows.forEach(([seq, want], i) => {
        const exp = typeof want === "bigint" ? want : codeOf(want as "REPLAYED");
        expect(win.check(seq >>> 0), `W=${W} Tl=${Tl} line ${i + 1}`).toBe(exp);
      });
    }
  });

  it("the Case A / Case B boundary: Tl = W - 2 vs W - 1", () => {
    let win = esnWindowAt(W, 9, W - 1); // Case A, Bl = 0: all of subspace 9
    expect(win.check(0xffffffff)).toBe(hiLo(9, 0xffffffff));
    expect(win.check(0)).toBe(hiLo(9, 0));
    win = esnWindowAt(W, 9, W - 2); // Case B, Bl = 2^32 - 1
    expect(win.check(0xffffffff)).toBe(hiLo(8, 0xffffffff));
    expect(win.check(0xfffffffe)).toBe(hiLo(9, 0xfffffffe));
    expect(win.check(0)).toBe(hiLo(9, 0));
  });

  it("receives across 2^32 boundaries in order and out of order", () => {
    const win = new Window(W, true);
    const start = hiLo(0, 0xffffffff - (W >> 1)); // a window's width before the wrap
    win.commit(start);
    const seqs: bigint[] = [];
    for (let i = 1n; i <= BigInt(W); i++) seqs.push(start + i);
    // deliver in pairs swapped: 2,1,4,3,… crossing 0:ffffffff → 1:00000000
    const d = new Diffs();
    for (let i = 0; i + 1 < seqs.length; i += 2) {
      for (const s of [seqs[i + 1], seqs[i]]) d.eq(win.receive(Number(s & 0xffffffffn)), s, `seq ${s.toString(16)}`);
    }
    expect(win.top()).toBe(start + BigInt(W));
    expect(win.top() >> 32n).toBe(1n);
    for (const s of seqs) d.eq(win.check(Number(s & 0xffffffffn)), REPLAYED, `replay ${s.toString(16)}`);
    expect(d.list).toEqual([]);
    // the farthest jump A2.2 can see: B + 2^32 - 1 = T - W + 2^32 (Case B here: Seql = Bl - 1)
    const far = win.top() - BigInt(W) + 0x1_0000_0000n;
    expect(win.check(Number(far & 0xffffffffn))).toBe(far);
    // one further is read as the window's left edge B instead (far + 1 ≡ B mod 2^32), seen
    expect(win.check(Number((far + 1n) & 0xffffffffn))).toBe(REPLAYED);
    expect(win.receive(Number(far & 0xffffffffn))).toBe(far);
    expect(win.top()).toBe(far);
  });
});

describe("ESN at the ends of the 64-bit space, and sequence number 0", () => {
  it("a fresh SA refuses 0:0 (ZERO) and the would-be subspace -1 (TOO_OLD)", () => {
    const win = new Window(64, true);
    runTable(win, [
      /*  1 */ [0, "ZERO"], //                        Case B with Th = 0 → 0:0, never sent
      /*  2 */ [0xffffffff, "TOO_OLD"], //            Case B picks Th - 1 = -1: before the SA began
      /*  3 */ [0xffffffc1, "TOO_OLD"], //            Bl = 0 - 64 + 1
      /*  4 */ [0xffffffc0, 0xffffffc0n], //          below Bl → Th = 0: far ahead, accepted
    ], "fresh ESN");
  });

  it("after the wrap, a low half of 0 is an ordinary number (only the 64-bit 0 is refused)", () => {
    const win = esnWindowAt(64, 0, 0xfffffff0);
    runTable(win, [
      /*  1 */ [0, hiLo(1, 0)], //                    Case A, 0 < Bl → Th + 1
      /*  2 */ [0, "REPLAYED"],
      /*  3 */ [0xffffffff, hiLo(0, 0xffffffff)], //  now Case B: Th - 1 = 0
      /*  4 */ [0xfffffff0, "REPLAYED"],
      /*  5 */ [0xffffffc1, hiLo(0, 0xffffffc1)], //  Bl = 0 - 64 + 1: left edge
      /*  6 */ [0xffffffc0, hiLo(1, 0xffffffc0)], //  below Bl → Th: a jump forward
    ], "wrap");
  });

  it("refuses to infer past 2^63 - 1 (REPLAY_ERR_CYCLED)", () => {
    const win = esnWindowAt(64, 0x7fffffff, 0xfffffff0);
    runTable(win, [
      /*  1 */ [0xfffffff1, hiLo(0x7fffffff, 0xfffffff1)],
      /*  2 */ [0xffffffff, hiLo(0x7fffffff, 0xffffffff)],
      /*  3 */ [0, "CYCLED"], //                      Case A → Th + 1 = 2^31
      /*  4 */ [5, "CYCLED"],
      /*  5 */ [0xffffffc0, hiLo(0x7fffffff, 0xffffffc0)], // Bl: still in Th
      /*  6 */ [0xffffffff, "REPLAYED"],
    ], "top");
    expect(win.top()).toBe(0x7fffffff_ffffffffn);
  });

  it("without ESN the result is always seqLow, whatever the high bits could be", () => {
    const win = new Window(64, false);
    win.receive(0xfffffff0);
    expect(win.check(5)).toBe(TOO_OLD);
    expect(win.check(0)).toBe(ZERO);
    expect(win.check(0xfffffff1)).toBe(0xfffffff1n);
  });
});

// ---- 4. W = 0: replay checking disabled ----

describe("W = 0 (disabled)", () => {
  it("accepts replays, 0 and anything left of T (no ESN)", () => {
    const win = new Window(0, false);
    expect(core.x.replayStateBytes(0)).toBe(16);
    runTable(win, [
      /*  1 */ [1, OK],
      /*  2 */ [1, OK], //                  replay accepted
      /*  3 */ [0, OK], //                  RFC 4303 §3.3.3: with anti-replay off the sender rolls over to 0
      /*  4 */ [1000, OK],
      /*  5 */ [1, OK],
      /*  6 */ [0xffffffff, OK],
      /*  7 */ [0, OK],
      /*  8 */ [0xffffffff, OK],
    ], "W=0");
    expect(win.top()).toBe(0xffffffffn); // T is tracked (commit) even though nothing is checked
  });

  it("infers ESN high bits with W = 2^31 (the nearest number to T) and accepts replays", () => {
    const win = new Window(0, true);
    runTable(win, [
      /*  1 */ [0, 0n], //                          no ZERO check when disabled (T stays 0)
      /*  2 */ [5, 5n], //                          Case B, Bl = 80000001: 5 < Bl → Th
      /*  3 */ [5, 5n], //                          replay accepted
      /*  4 */ [0xffffffff, 0xffffffffn], //        Seql >= Bl → Th - 1 = -1: subspace 0 is used
      /*  5 */ [0x80000000, 0x80000000n], //        T = 0:ffffffff, Case A, Bl = 80000000 → Th
      /*  6 */ [0x7fffffff, hiLo(1, 0x7fffffff)], // 2^31 behind → taken as 2^31 ahead (Th + 1)
      /*  7 */ [0x80000000, hiLo(1, 0x80000000)], // T = 1:7fffffff, Case A with Bl = 0: Th
      /*  8 */ [0x7fffffff, hiLo(1, 0x7fffffff)], // replay accepted (Bl = 1)
      /*  9 */ [0, hiLo(2, 0)], //                  0 < Bl = 1 → Th + 1: exactly 2^31 ahead
      /* 10 */ [0x80000001, hiLo(1, 0x80000001)], // T = 2:0, Case B, Bl = 80000001 → Th - 1
      /* 11 */ [0x80000000, hiLo(2, 0x80000000)], // just below Bl → Th: 2^31 ahead
    ], "W=0 ESN");
    expect(win.top()).toBe(hiLo(2, 0x80000000));
  });
});

// ---- 5. Randomized runs against a reference model ----

/**
 * The reference: T, the set of authenticated numbers, and the RFC 4303 A2.2 rule restated as
 * "Seq is the one number ≡ Seql (mod 2^32) in [B, B + 2^32 - 1], B = T - W + 1" (with W = 2^31
 * when disabled), which is what Case A and Case B compute. No bitmap, no blocks.
 */
class Model {
  T = 0n;
  seen = new Set<bigint>();
  constructor(readonly w: number, readonly esn: boolean) {}

  expectCheck(seqLow: number): bigint {
    const W = BigInt(this.w);
    let seq = BigInt(seqLow >>> 0);
    if (this.esn) {
      const B = this.T - (this.w === 0 ? 0x80000000n : W) + 1n;
      seq = B + ((seq - B) % 0x1_0000_0000n + 0x1_0000_0000n) % 0x1_0000_0000n;
      if (seq < 0n) {
        if (this.w !== 0) return TOO_OLD;
        seq += 0x1_0000_0000n;
      }
      if (seq >> 32n > 0x7fffffffn) return CYCLED;
    }
    if (this.w === 0) return seq;
    if (seq === 0n) return ZERO;
    if (seq > this.T) return seq;
    if (this.T - seq >= W) return TOO_OLD;
    return this.seen.has(seq) ? REPLAYED : seq;
  }

  commit(seq: bigint): void {
    this.seen.add(seq);
    if (seq > this.T) this.T = seq;
  }
}

interface RunStats {
  accepted: number;
  refused: number;
  codes: Map<bigint, number>; // how often each error code came back
  misinferred: number; // genuine packets whose inferred number was not theirs (ICV would fail)
}

function randomRun(W: number, esn: boolean, seed: number, ops: number, startT: bigint): RunStats {
  const rng = new Prng(seed);
  const win = new Window(W, esn);
  const model = new Model(W, esn);
  if (startT > 0n) {
    win.commit(startT);
    model.commit(startT);
  }
  let sent = startT; // the sender's counter
  const inFlight: bigint[] = []; // genuine packets not yet delivered (reordering)
  const delivered: bigint[] = []; // genuine packets already delivered (for replays)
  let accepted = 0;
  let refused = 0;
  let misinferred = 0;
  const codes = new Map<bigint, number>();
  const maxSeq = esn ? 0x7fffffff_ffffffffn : 0xffffffffn;
  const span = W === 0 ? 4096 : W;

  // One packet through check → ICV → commit. genuine = the 64-bit number the sender used,
  // or undefined for a forgery (its ICV never verifies).
  const deliverBatch = (batch: Array<{ low: number; genuine?: bigint }>) => {
    // all checks first, against the same state (a pipeline checks a batch before any commit)
    const results = batch.map((p) => {
      const want = model.expectCheck(p.low);
      const got = win.check(p.low);
      expect(got, `seed ${seed} W=${W} esn=${esn} T=${model.T} low=${p.low}`).toBe(want);
      if (got < 0n) codes.set(got, (codes.get(got) ?? 0) + 1);
      else if (p.genuine !== undefined && got !== p.genuine) misinferred++;
      return got;
    });
    batch.forEach((p, i) => {
      const r = results[i];
      // the ICV verifies only for a genuine packet whose inferred number is the real one
      if (r >= 0n && p.genuine !== undefined && r === p.genuine) {
        win.commit(r);
        model.commit(r);
        accepted++;
      } else refused++;
    });
    expect(win.top(), `seed ${seed} T`).toBe(model.T);
  };

  for (let op = 0; op < ops; op++) {
    const k = rng.int(0, 99);
    if (k < 25 || inFlight.length === 0) {
      // the sender emits 1…6 packets, sometimes after a gap
      const gap = rng.int(0, 9) === 0 ? BigInt(rng.int(1, 3 * span)) : 0n;
      // crosses subspaces, staying inside what A2.2 can infer (2^32 - W ahead, 2^31 if W = 0;
      // beyond that the receiver loses the high bits: RFC 4303 A3 resynchronization)
      const reach = W === 0 ? 0x8000_0000 - 0x10_0000 : 0x1_0000_0000 - 2 * W - 0x10_0000;
      const bigGap = esn && rng.int(0, 49) === 0 ? BigInt(rng.u32() % reach) : 0n;
      sent += gap + bigGap;
      for (let n = rng.int(1, 6); n > 0 && sent < maxSeq; n--) inFlight.push(++sent);
    } else if (k < 75) {
      // deliver a random in-flight packet (reordering), sometimes a few as one batch
      const batch: Array<{ low: number; genuine?: bigint }> = [];
      for (let n = rng.int(0, 3) === 0 ? rng.int(2, 6) : 1; n > 0 && inFlight.length > 0; n--) {
        // mostly nearly in order; sometimes from anywhere up to twice the window back
        const j = rng.int(0, Math.min(inFlight.length - 1, rng.int(0, 3) === 0 ? 2 * span : 4));
        const s = inFlight.splice(j, 1)[0];
        delivered.push(s);
        batch.push({ low: Number(s & 0xffffffffn), genuine: s });
      }
      deliverBatch(batch);
    } else if (k < 88 && delivered.length > 0) {
      // a replay of something already delivered: recent or old
      const back = [8, 8, 2 * span, delivered.length][rng.int(0, 3)];
      const s = delivered[delivered.length - 1 - rng.int(0, Math.min(delivered.length - 1, back))];
      deliverBatch([{ low: Number(s & 0xffffffffn), genuine: s }]);
    } else if (k < 96) {
      // a duplicate inside one batch: both pass the check, both commit, no harm
      if (inFlight.length > 0) {
        const s = inFlight.splice(0, 1)[0];
        delivered.push(s);
        const p = { low: Number(s & 0xffffffffn), genuine: s };
        deliverBatch([p, p]);
      }
    } else {
      // a forgery with a random or near-T sequence number: checked, never committed
      const low = rng.int(0, 1) === 0 ? rng.u32() : Number((model.T + BigInt(rng.int(-span, span))) & 0xffffffffn);
      deliverBatch([{ low }]);
    }
    // drop packets the sender has long moved past, so in-flight stays bounded
    if (inFlight.length > 4 * span + 64) inFlight.splice(0, inFlight.length - 4 * span);
    if (delivered.length > 20000) delivered.splice(0, 10000);
  }
  return { accepted, refused, codes, misinferred };
}

describe("randomized against a reference model", () => {
  const seed0 = seedFromEnv(0x4303_6479);
  const cases: Array<[number, boolean, bigint]> = [];
  for (const W of [32, 64, 1024, 65536, 0]) {
    cases.push([W, false, 0n]);
    cases.push([W, false, 0xffffffffn - 20000n - 200n * BigInt(W || 4096)]); // near the end of 32 bits
    cases.push([W, true, 0n]);
    cases.push([W, true, 0xffffffffn - BigInt(W >> 1)]); // start next to a 2^32 boundary
    cases.push([W, true, 0x7fffffe0_00000000n]); // 32 subspaces below the end of what we return
  }
  it.each(cases)("W = %i, ESN %s, T starts at %s", (W, esn, startT) => {
    const seed = (seed0 + W * 7 + (esn ? 1 : 0) + Number(startT % 0xfffffffbn)) >>> 0;
    const { accepted, refused, codes, misinferred } = randomRun(W, esn, seed, 4000, startT);
    expect(accepted, `seed ${seed}`).toBeGreaterThan(1000);
    expect(refused, `seed ${seed}`).toBeGreaterThan(100);
    if (W !== 0) {
      expect(codes.get(REPLAYED) ?? 0, `seed ${seed}`).toBeGreaterThan(50);
      // without ESN old packets are TOO_OLD; with ESN A2.2 reads them as far-future
      // numbers of the next subspace, whose ICV then fails
      if (esn) expect(misinferred, `seed ${seed}`).toBeGreaterThan(10);
      else expect(codes.get(TOO_OLD) ?? 0, `seed ${seed}`).toBeGreaterThan(50);
    } else {
      expect(codes.size, `seed ${seed}: W = 0 refuses nothing by itself`).toBe(0);
    }
  });
});
