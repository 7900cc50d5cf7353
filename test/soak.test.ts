// Soak: long runs that must leave no trace in memory.
//
//   1. Packets through the full pipeline (A: route → SPD → ESP → outer IPv4; B: outer checks →
//      reassembly of the outer fragments some packets arrive in → SAD → ESP → replay window →
//      RFC 4213/4891 checks → deliver), both directions, IMIX, with a make-before-break SA
//      rekey every SOAK_REKEY packets. After warm-up (a tenth of the run, from 200,000 to
//      1,000,000 packets, at most half of it) wasm memory must not grow by one page, the live JS heap (after a full GC) must
//      stay flat, and process RSS — sampled every twentieth of the run without forcing a GC, so
//      that V8's heap is as the workload leaves it — must not rise above its level at the end of
//      warm-up by more than RSS_FLAT; every packet sent is delivered once, and the drop counters
//      stay at zero.
//
//      What made RSS flat (before: +43 MiB over 10 M packets): the loop allocates no long-lived
//      JS objects per packet. The Reassembler kept datagrams in a JS Map; each datagram's insert
//      and delete rehashed the Map's backing store, which V8 allocates in old space for an old
//      Map (~150 B per datagram, 1 packet in 32 here), so old space climbed ~5 MiB per million
//      packets until a full GC, and the bytes surviving scavenges made V8 double its young
//      generation once. src/reassembly.ts now uses pooled records and its own hash table.
//      Measured (npm run soak, 10 M packets): RSS 89.7 → 89.8 MiB from 0.5 M to 10 M packets,
//      young generation 16 MiB and old space 9.7 MiB throughout, no full GC needed.
//   2. 100,000 SAs (half inbound with replay windows of every size, half outbound, half of them
//      bound to a tunnel with tunnel-mode selectors) installed and removed in random order,
//      cycle after cycle: after the first cycle wasm memory must not grow, and the SPI hash must
//      be empty again (RFC 4301 §4.4.2 SAD).
//
// `npm test` runs a CI-sized slice (SOAK_PACKETS 400,000, SOAK_SA_CYCLES 3); `npm run soak` runs
// 10,000,000 packets and prints packets/s and memory before/after. IPSEC6IN4_SEED replays a run.
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createDataplane, type Dataplane, type PipelineBatch } from "../src/pipeline.js";
import { prefixRange, parsePrefix } from "../src/addr.js";
import type { SaHandle } from "../src/esp.js";
import { ipv4HeaderChecksum } from "../src/reassembly.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";

const PACKETS = Number(process.env.SOAK_PACKETS ?? 400_000);
const SAS = Number(process.env.SOAK_SAS ?? 100_000);
const SA_CYCLES = Number(process.env.SOAK_SA_CYCLES ?? 3);
const REKEY = Number(process.env.SOAK_REKEY ?? 50_000);
/**
 * How far RSS may rise after warm-up: allocator slack and V8 page-pool noise (measured ≤ 0.2 MiB
 * over 10 M packets; the Map-based reassembler grew it by 43 MiB). Wasm memory may not move at
 * all; the live heap after a full GC by at most HEAP_BOUND; RSS outside V8's heap (RSS −
 * heapTotal: wasm code, OpenSSL, malloc arenas, Buffers) by at most OUTSIDE_BOUND.
 */
const RSS_FLAT = Number(process.env.SOAK_RSS_FLAT_MIB ?? 8) * 2 ** 20;
/**
 * 100,000 SAs: each cycle's 100,000 handles and SPI sets are JS garbage of ~8 MiB collected at
 * V8's pace, so RSS between cycles moves by up to ~13 MiB (measured) without any growth.
 */
const SA_RSS_BOUND = 32 * 2 ** 20;
/** A leak of one small object per 100 packets over 10 M packets would be several MiB. */
const HEAP_BOUND = 2 * 2 ** 20;
/** Measured 2–6 MiB (Buffers awaiting collection, allocator slack). */
const OUTSIDE_BOUND = 12 * 2 ** 20;
const SEED = seedFromEnv(0x50a4);
const BATCH = 64;
const MiB = 2 ** 20;

const report: Record<string, unknown> = { seed: SEED };
afterAll(() => {
  console.log(`soak (seed ${SEED}):\n${JSON.stringify(report, null, 2)}`);
  if (process.env.SOAK_REPORT) writeFileSync(process.env.SOAK_REPORT, JSON.stringify(report, null, 2) + "\n");
});

/** A full garbage collection, so that RSS and heap figures are comparable (no --expose-gc needed). */
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
function memory(dps: Dataplane[]) {
  gc();
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_size]));
  return { wasm: dps.reduce((n, d) => n + d.core.x.memory.buffer.byteLength, 0), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, newSpace: spaces.new_space ?? 0, oldSpace: spaces.old_space ?? 0 };
}
const mib = (n: number) => +(n / MiB).toFixed(1);

const IMIX = [...Array(7).fill(64), ...Array(4).fill(576), 1400];
const TEP_A = "192.0.2.1";
const TEP_B = "192.0.2.2";

/** An IPv6 packet (next header 59: no next header) from `src` to `dst` with a 4-byte id at 40. */
function ipv6(src: Uint8Array, dst: Uint8Array, len: number, rng: Prng): Uint8Array {
  const p = rng.bytes(len);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, len - 40);
  p[6] = 59;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  return p;
}

/** Split an outer IPv4 packet into two fragments (RFC 791 §3.2: the first carries a multiple of 8). */
function fragment(pkt: Uint8Array, id: number): Uint8Array[] {
  const ihl = (pkt[0] & 15) * 4;
  const body = pkt.length - ihl;
  const first = Math.max(8, (body >> 1) & ~7);
  const mk = (off: number, len: number, more: boolean) => {
    const f = new Uint8Array(ihl + len);
    f.set(pkt.subarray(0, ihl));
    f.set(pkt.subarray(ihl + off, ihl + off + len), ihl);
    f[2] = f.length >> 8;
    f[3] = f.length & 0xff;
    f[4] = id >> 8;
    f[5] = id & 0xff;
    const fo = (more ? 0x2000 : 0) | (off >> 3);
    f[6] = fo >> 8;
    f[7] = fo & 0xff;
    f[10] = f[11] = 0;
    const c = ipv4HeaderChecksum(f.subarray(0, ihl));
    f[10] = c >> 8;
    f[11] = c & 0xff;
    return f;
  };
  return [mk(0, first, true), mk(first, body - first, false)];
}

interface Link {
  from: Dataplane;
  to: Dataplane;
  tx: PipelineBatch;
  rx: PipelineBatch;
  inner: Uint8Array[];
  out?: SaHandle;
  in?: SaHandle;
  spi: number;
}

async function pair() {
  const A = await createDataplane({ sas: 8, tunnels: 2, reassembly: { maxBytes: 1 << 20 } });
  const B = await createDataplane({ sas: 8, tunnels: 2, reassembly: { maxBytes: 1 << 20 } });
  A.addTunnel({ name: "t", local: TEP_A, remote: TEP_B, address: "2001:db8:ffff::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"], mtu: 1480 });
  B.addTunnel({ name: "t", local: TEP_B, remote: TEP_A, address: "2001:db8:ffff::2/64", routes: ["2001:db8:1::/48"], allow: ["2001:db8:1::/48"], mtu: 1480 });
  return { A, B };
}

/** Install (or replace, make-before-break) the SA pair carrying `l`: new inbound first, then outbound, then remove the old. */
function rekey(l: Link, rng: Prng, tunnelMode: boolean): void {
  const keymat = rng.bytes(20);
  const spi = (l.spi = l.spi + 1);
  // Tunnel mode is used for B→A: B's selectors are its own prefix → A's.
  const sel = tunnelMode ? { local: [prefixRange(parsePrefix("2001:db8:2::/48")!)], remote: [prefixRange(parsePrefix("2001:db8:1::/48")!)] } : undefined;
  const swap = sel ? { local: sel.remote, remote: sel.local } : undefined;
  const inb = l.to.esp.addInbound({ spi, keymat, replayWindow: 1024 });
  l.to.bindSa(inb, "t", swap);
  const out = l.from.esp.addOutbound({ spi, keymat });
  l.from.bindSa(out, "t", sel);
  if (l.out) l.from.removeSa(l.out);
  if (l.in) l.to.removeSa(l.in);
  l.out = out;
  l.in = inb;
}

describe("soak", { timeout: Math.max(300_000, PACKETS / 20) }, () => {
  it(`${PACKETS.toLocaleString("en-US")} packets through the full pipeline: wasm memory and RSS flat after warm-up, every packet delivered once`, async () => {
    const rng = new Prng(SEED);
    const { A, B } = await pair();
    const a6 = parsePrefix("2001:db8:1::10/128")!.bytes;
    const b6 = parsePrefix("2001:db8:2::20/128")!.bytes;
    const mkLink = (from: Dataplane, to: Dataplane, src: Uint8Array, dst: Uint8Array, spiBase: number): Link => ({
      from,
      to,
      tx: from.createBatch({ packets: BATCH }),
      rx: to.createBatch({ packets: BATCH * 2 }),
      inner: Array.from({ length: 256 }, (_, i) => ipv6(src, dst, IMIX[i % IMIX.length], rng)),
      spi: spiBase,
    });
    const links = [mkLink(A, B, a6, b6, 0x10000), mkLink(B, A, b6, a6, 0x20000)];
    rekey(links[0], rng, false); // A→B transport mode
    rekey(links[1], rng, true); // B→A tunnel mode, selectors checked
    let sent = 0;
    let delivered = 0;
    let fragmented = 0;
    let rekeys = 0;
    let fragId = 1;
    // Warm: V8's young generation (2 × 8 MiB here) has had all its pages touched, ~120,000 packets.
    const warmup = Math.max(BATCH, Math.min(Math.floor(PACKETS / 2), Math.max(200_000, Math.min(1_000_000, Math.floor(PACKETS / 10)))));
    let warm: ReturnType<typeof memory> | undefined;
    /** RSS at the end of warm-up, before the forced GC of memory() (which returns pages V8 then takes back). */
    let warmRss = 0;
    let peakRss = 0;
    const samplesFull: Record<string, number>[] = [];
    /** RSS − heapTotal at the samples (no forced GC: after one V8 keeps freed heap pages resident in its pool). */
    let outsideFirst: number | undefined;
    let outsideLast = 0;
    let t0 = 0;
    const sampleEvery = Math.max(BATCH, Math.floor(PACKETS / 20 / BATCH) * BATCH);
    while (sent < PACKETS) {
      const l = links[(sent / BATCH) & 1];
      l.tx.clear();
      l.rx.clear();
      const n = Math.min(BATCH, PACKETS - sent);
      for (let i = 0; i < n; i++) {
        const p = l.inner[(sent + i) & 255];
        p[44] = (sent + i) & 0xff; // vary the payload a little
        l.tx.addPacket(p);
      }
      l.from.outbound(l.tx);
      for (let i = 0; i < n; i++) {
        if (l.tx.verdict(i) !== "send") throw new Error(`outbound packet ${sent + i}: ${l.tx.verdict(i)} ${l.tx.reason(i)}`);
        const o = l.tx.output(i);
        // One packet in 32 arrives in two outer fragments, every other time in reverse order.
        if (((sent + i) & 31) === 7 && o.length > 100) {
          const f = fragment(o, fragId++ & 0xffff);
          if (fragId & 1) f.reverse();
          for (const x of f) l.rx.addPacket(x);
          fragmented++;
        } else l.rx.addPacket(o);
      }
      delivered += l.to.inbound(l.rx);
      sent += n;
      if (sent % REKEY < BATCH && sent > BATCH) {
        rekey(links[0], rng, false);
        rekey(links[1], rng, true);
        rekeys++;
      }
      if (!warm && sent >= warmup) {
        warmRss = process.memoryUsage().rss;
        warm = memory([A, B]);
        t0 = performance.now();
      }
      if (warm && (sent % sampleEvery < BATCH || sent >= PACKETS)) {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        outsideLast = m.rss - m.heapTotal;
        outsideFirst ??= outsideLast;
        const sp = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_size]));
        samplesFull.push({ packets: sent, rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), newSpace: mib(sp.new_space ?? 0), oldSpace: mib(sp.old_space ?? 0), outsideHeap: mib(m.rss - m.heapTotal), external: mib(m.external) });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const end = memory([A, B]);
    const drops = { ...A.drops(), ...B.drops() };
    report.pipeline = {
      packets: PACKETS,
      imix: "7:4:1 of 64/576/1400-byte IPv6, batches of 64, both directions",
      outerFragmented: fragmented,
      rekeys,
      delivered,
      drops: Object.fromEntries(Object.entries(drops).map(([k, v]) => [k, Number(v)])),
      packetsPerSecond: Math.round((PACKETS - warmup) / seconds),
      afterWarmup: { packets: warmup, wasmMiB: mib(warm!.wasm), rssMiB: mib(warm!.rss), heapMiB: mib(warm!.heapUsed), heapTotalMiB: mib(warm!.heapTotal), newSpaceMiB: mib(warm!.newSpace), oldSpaceMiB: mib(warm!.oldSpace), outsideHeapMiB: mib(warm!.rss - warm!.heapTotal) },
      end: { wasmMiB: mib(end.wasm), rssMiB: mib(end.rss), heapMiB: mib(end.heapUsed), peakRssMiB: mib(peakRss), heapTotalMiB: mib(end.heapTotal), newSpaceMiB: mib(end.newSpace), oldSpaceMiB: mib(end.oldSpace), outsideHeapMiB: mib(end.rss - end.heapTotal) },
      /** Without forced GCs: RSS at the end of warm-up, the highest and the last sample after it. */
      rssSampledMiB: { warm: mib(warmRss), peak: mib(peakRss), last: samplesFull.length ? samplesFull[samplesFull.length - 1].rss : undefined },
      rssGrowthMiB: mib(peakRss - warmRss),
      /** How much of the RSS growth is V8's committed heap (young generation, old-space pages). */
      heapTotalGrowthMiB: mib(end.heapTotal - warm!.heapTotal),
      outsideHeapSampledMiB: { first: mib(outsideFirst!), last: mib(outsideLast) },
      samples: process.env.SOAK_SAMPLES ? samplesFull : undefined,
    };
    expect(delivered).toBe(PACKETS);
    expect(drops).toEqual({});
    expect(A.reassembler.pending + B.reassembler.pending).toBe(0);
    expect(end.wasm).toBe(warm!.wasm);
    expect(end.heapUsed - warm!.heapUsed).toBeLessThan(HEAP_BOUND);
    expect(outsideLast - outsideFirst!).toBeLessThan(OUTSIDE_BOUND);
    expect(peakRss - warmRss).toBeLessThan(RSS_FLAT);
  });

  it(`${SAS.toLocaleString("en-US")} SAs installed and removed ${SA_CYCLES} times: no growth after the first cycle`, async () => {
    const rng = new Prng(SEED ^ 0x5a5a);
    const dp = await createDataplane({ sas: SAS, tunnels: 2 });
    dp.addTunnel({ name: "t", local: TEP_A, remote: TEP_B, address: "2001:db8:ffff::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"] });
    const sel = { local: [prefixRange(parsePrefix("2001:db8:1::/48")!)], remote: [prefixRange(parsePrefix("2001:db8:2::/48")!), prefixRange(parsePrefix("2001:db8:3::/48")!)] };
    const windows = [0, 32, 64, 128, 1024, 4096, 65536];
    const cycles: { cycle: number; installMs: number; removeMs: number; wasmMiB: number; rssMiB: number; heapMiB: number }[] = [];
    const before = memory([dp]);
    let afterFirst: ReturnType<typeof memory> | undefined;
    for (let c = 0; c < SA_CYCLES; c++) {
      const keymat = rng.bytes(20);
      const spis = new Set<number>();
      while (spis.size < SAS) spis.add(rng.u32() || 1);
      const handles: SaHandle[] = [];
      const t0 = performance.now();
      let k = 0;
      for (const spi of spis) {
        const inbound = (k & 1) === 0;
        const h = inbound
          ? dp.esp.addInbound({ spi, keymat, replayWindow: windows[rng.int(0, windows.length - 1)], esn: (k & 2) !== 0 })
          : dp.esp.addOutbound({ spi, keymat, ...(k & 2 ? { encap: { sourcePort: 4500, destinationPort: 4500 } } : {}) });
        if ((k & 3) < 2) dp.bindSa(h, "t", k & 4 ? sel : undefined);
        handles.push(h);
        k++;
      }
      const t1 = performance.now();
      expect(dp.esp.size).toBe(SAS);
      for (let i = 0; i < 1000; i++) {
        const h = handles[rng.int(0, SAS - 1)];
        if (h.direction === "in") expect(dp.esp.lookup(h.spi)).toBe(h);
      }
      // Remove in random order (Fisher–Yates), so the allocator sees frees out of order.
      for (let i = handles.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [handles[i], handles[j]] = [handles[j], handles[i]];
      }
      for (const h of handles) dp.removeSa(h);
      const t2 = performance.now();
      expect(dp.esp.size).toBe(0);
      for (let i = 0; i < 1000; i++) expect(dp.esp.lookup(handles[rng.int(0, SAS - 1)].spi)).toBeUndefined();
      const m = memory([dp]);
      if (c === 0) afterFirst = m;
      cycles.push({ cycle: c + 1, installMs: Math.round(t1 - t0), removeMs: Math.round(t2 - t1), wasmMiB: mib(m.wasm), rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed) });
    }
    const end = memory([dp]);
    report.sas = { sas: SAS, cycles: SA_CYCLES, bytesPerSa: dp.esp.bytesPerSa, before: { wasmMiB: mib(before.wasm), rssMiB: mib(before.rss) }, perCycle: cycles };
    // The table still works: one SA pair after all that churn.
    const h = dp.esp.addInbound({ spi: 7, keymat: new Uint8Array(20) });
    expect(dp.esp.lookup(7)).toBe(h);
    dp.removeSa(h);
    expect(end.wasm).toBe(afterFirst!.wasm);
    expect(end.rss - afterFirst!.rss).toBeLessThan(SA_RSS_BOUND);
  });
});
