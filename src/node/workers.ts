/**
 * A sharded dataplane: N worker threads (worker-main.ts), each with its own wasm instance and
 * Dataplane holding a subset of the SAs; the tunnel table is replicated in every worker.
 *
 *   inbound(outer IPv4 packet):  outer fragments are reassembled here (a fragment carries no
 *                                SPI), then the SPI picks the worker that holds the SA
 *                                (a map SPI → worker; unknown SPIs go to spi % N, where they
 *                                are dropped and counted as "unknown-spi")
 *   outbound(inner IPv6 packet): the longest-prefix route picks the tunnel, the tunnel's
 *                                current outbound SA picks the worker (no SA: tunnel % N,
 *                                where the pipeline drops or bypasses as configured)
 *
 * Every packet of one SA goes to one worker through one message port, so the packets of an
 * SA stay in order (RFC 4303 sequence numbers are assigned in that worker, in arrival order).
 * Packets move in batches: one transferred ArrayBuffer per batch and direction each way,
 * never a message per packet. Results come back in the same order through `onPacket`.
 *
 * The SA API mirrors Dataplane's (esp.addInbound / esp.addOutbound / bindSa / removeSa /
 * esp.stats), synchronously: parameters are checked here, the install travels to the worker
 * ahead of any later batch; what only the worker can refuse (out of wasm memory) is reported
 * through `onError`. SA counters come back through a SharedArrayBuffer after every batch, so
 * `esp.stats()` (the IKE endpoint's lifetime checks) needs no round trip. `asDataplane()` is
 * the small adapter an IkeEndpoint takes as its `dataplane`.
 *
 * A worker that dies (uncaught exception, out of memory, terminate) fails the whole sharded
 * dataplane: `onError` is called, pending `drain()`s reject, later calls throw ERR_ENGINE.
 *
 * Limits against Dataplane: a tunnel has one outbound SA here (its newest: several tunnel-mode
 * CHILD_SAs with their own selectors on one tunnel need Dataplane, which chooses among them),
 * and tunnel MTUs are at most what the workers' 2,048-byte slots carry (1,667).
 *
 * Sockets stay with the caller (the thread that owns them): Node 20 has no SO_REUSEPORT in
 * node:dgram (`reusePort` arrived in Node 22.12/23.1), and a 4-tuple fan-out would not follow
 * SAs anyway; see `reusePortAvailable()`.
 */
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { createSocket } from "node:dgram";
import { type AddrRange, type IpPrefix, toBig } from "../addr.js";
import { fail, IpsecError } from "../errors.js";
import { DROP_REASONS, ESP_SLOT_HEADROOM, type DropReason, type EspAlgorithm, type InboundSaParams, type OutboundSaParams, type SaHandle, type SaStats } from "../esp.js";
import { slotBytesForMtu, type Dataplane, type PacketKind, type SaSelectors, type TunnelPolicy } from "../pipeline.js";
import { Reassembler, ipv4HeaderValid, type ReassemblyOptions } from "../reassembly.js";
import { PROTO, type Spd } from "../spd.js";
import { checkTunnel, type TunnelConfig } from "../tunnel.js";
import type { WorkerInit } from "./worker-main.js";

/** Bytes per packet slot of a worker's batch, and the largest packet one takes. */
const WORKER_SLOT_BYTES = 2048;
const WORKER_PACKET_MAX = WORKER_SLOT_BYTES - ESP_SLOT_HEADROOM;
/** The largest tunnel MTU whose packets, encapsulated with the most ESP can add, fit such a slot. */
const WORKER_MAX_MTU = (() => {
  let m = 1280;
  while (slotBytesForMtu(m + 1) <= WORKER_SLOT_BYTES) m++;
  return m;
})();

const KINDS: PacketKind[] = ["dropped", "deliver", "send", "packet-too-big", "ike", "keepalive", "fragment", "other"];

export interface ShardedDataplaneOptions {
  /** Worker threads (default 2). */
  workers?: number;
  /** Most SAs over all workers (default 1024); each worker's table holds as many. */
  sas?: number;
  /** Most tunnels (default 64), replicated in every worker. */
  tunnels?: number;
  /** Packets per pipeline call inside a worker (default 128). */
  batch?: number;
  /** Packets queued per worker before a batch is posted without waiting for the turn's end (default 256). */
  postAt?: number;
  reassembly?: ReassemblyOptions;
  /** The worker entry (default: worker-main.js next to this module, or dist/worker-main.js). */
  workerUrl?: URL | string;
  /**
   * Every result, in order per worker: outer packets to send (verdict "send"), inner packets
   * to deliver, Packet Too Big messages, IKE messages that came through inbound(). The bytes
   * are a view into a transferred buffer: valid as long as the callee keeps it.
   */
  onPacket?(kind: PacketKind, packet: Uint8Array, tunnel: number): void;
  /** A worker died, or refused an install. After a death every later call throws. */
  onError?(error: Error): void;
}

export interface ShardTiming {
  worker: number;
  /** Nanoseconds inside Dataplane.inbound/outbound (wasm: pipeline + crypto). */
  wasmNs: bigint;
  /** Nanoseconds of JS around them in the worker (unpacking, packing results). */
  jsNs: bigint;
  packets: number;
  batches: number;
  /** The worker's event-loop utilization since creation (0..1). */
  utilization: number;
}

interface Shard {
  worker: Worker;
  id: number;
  /** Packed batches being filled: [inbound, outbound]. */
  q: [Writer, Writer];
  inflight: number; // batches posted, not returned
  timing: ShardTiming;
  sasIn: number;
  sasOut: number;
}

/** A batch packed as worker-main.ts reads it: u32 count, then u32 meta, u32 length, bytes (padded to 4). */
class Writer {
  u8: Uint8Array;
  dv: DataView;
  off = 4;
  n = 0;
  constructor(private readonly initial: number) {
    this.u8 = new Uint8Array(initial);
    this.dv = new DataView(this.u8.buffer);
  }
  /** Room for a packet of len bytes; returns where its bytes go. */
  reserve(len: number): number {
    const need = this.off + 8 + ((len + 3) & ~3);
    if (need > this.u8.length) {
      const bigger = new Uint8Array(Math.max(need, this.u8.length * 2));
      bigger.set(this.u8.subarray(0, this.off));
      this.u8 = bigger;
      this.dv = new DataView(bigger.buffer);
    }
    this.dv.setUint32(this.off, 0, true);
    this.dv.setUint32(this.off + 4, len, true);
    const at = this.off + 8;
    this.off = need;
    this.n++;
    return at;
  }
  /** The packed buffer (to transfer); the writer starts a fresh one. */
  take(): ArrayBuffer {
    this.dv.setUint32(0, this.n, true);
    const buf = this.u8.buffer as ArrayBuffer;
    this.u8 = new Uint8Array(this.initial);
    this.dv = new DataView(this.u8.buffer);
    this.off = 4;
    this.n = 0;
    return buf;
  }
}

interface Sa extends SaHandle {
  readonly worker: number;
}

interface Route {
  bytes: Uint8Array;
  length: number;
  tunnel: number;
}

/** True when node:dgram can bind several sockets to one port with SO_REUSEPORT (Node ≥ 22.12). */
export function reusePortAvailable(): boolean {
  try {
    const s = createSocket({ type: "udp4", reusePort: true } as never);
    s.close();
    const [maj, min] = process.versions.node.split(".").map(Number);
    return maj > 23 || (maj === 23 && min >= 1) || (maj === 22 && min >= 12);
  } catch {
    return false;
  }
}

function defaultWorkerUrl(): URL {
  let here: string | undefined;
  try {
    here = dirname(fileURLToPath(import.meta.url));
  } catch {
    here = typeof __dirname === "string" ? __dirname : undefined;
  }
  const cands: string[] = [];
  if (here) {
    cands.push(join(here, "worker-main.js"), join(here, "worker-main.cjs"));
    // From the sources (tests): the built worker in dist/.
    cands.push(join(here, "..", "..", "dist", "worker-main.js"));
  }
  for (const c of cands) if (existsSync(c)) return pathToFileURL(c);
  return fail("ERR_ENGINE", `cannot find the dataplane worker (worker-main.js) near ${here ?? "this module"}; build with npm run build:ts or pass workerUrl`);
}

declare const __dirname: string | undefined;

const ALG: Record<EspAlgorithm, { keys: number[]; icvs: number[] }> = {
  "aes-gcm": { keys: [16, 24, 32], icvs: [8, 12, 16] },
  "chacha20-poly1305": { keys: [32], icvs: [16] },
  "aes-gmac": { keys: [16, 24, 32], icvs: [16] },
};

function checkSa(p: InboundSaParams & OutboundSaParams, inbound: boolean): EspAlgorithm {
  if (p === null || typeof p !== "object") fail("ERR_INPUT_TYPE", "SA parameters must be an object");
  if (typeof p.spi !== "number" || !Number.isInteger(p.spi) || p.spi < (inbound ? 1 : 0) || p.spi > 0xffffffff) {
    fail(inbound && p.spi === 0 ? "ERR_INPUT_TYPE" : "ERR_INPUT_TYPE", `spi must be an integer from ${inbound ? 1 : 0} to 4294967295, not ${String(p.spi)}`);
  }
  const algorithm = p.algorithm ?? "aes-gcm";
  const a = Object.hasOwn(ALG, algorithm) ? ALG[algorithm] : undefined;
  if (!a) fail("ERR_INPUT_TYPE", `unknown ESP algorithm ${String(algorithm)}`);
  if (!(p.keymat instanceof Uint8Array)) fail("ERR_INPUT_TYPE", "keymat must be a Uint8Array");
  if (!a.keys.includes(p.keymat.length - 4)) fail("ERR_KEY_LENGTH", `${algorithm} keymat must be key ‖ 4-byte salt, not ${p.keymat.length} bytes`);
  if (!a.icvs.includes(p.icvLength ?? 16)) fail("ERR_TAG_LENGTH", `${algorithm} ICV length ${String(p.icvLength)} not allowed`);
  if (inbound) {
    const w = p.replayWindow ?? 1024;
    if (!Number.isInteger(w) || (w !== 0 && (w < 32 || w > 65536 || (w & (w - 1)) !== 0))) {
      fail("ERR_REPLAY_WINDOW", "replay window must be 0 (disabled) or a power of two from 32 to 65536");
    }
  }
  if (p.encap) {
    for (const k of ["sourcePort", "destinationPort"] as const) {
      const v = p.encap[k];
      if (!Number.isInteger(v) || v < 1 || v > 65535) fail("ERR_INPUT_TYPE", `encap.${k} must be an integer from 1 to 65535`);
    }
  }
  if (p.tfcPadding !== undefined && (!Number.isInteger(p.tfcPadding) || p.tfcPadding < 0 || p.tfcPadding > 252 || (p.tfcPadding & 3) !== 0)) {
    fail("ERR_INPUT_TYPE", "tfcPadding must be a multiple of 4 from 0 to 252");
  }
  return algorithm;
}

export class ShardedDataplane {
  readonly workers: number;
  readonly sasCapacity: number;
  readonly reassembler: Reassembler;
  private readonly opt: ShardedDataplaneOptions;
  private readonly shards: Shard[];
  private readonly stats: BigInt64Array;
  private readonly sas: (Sa | undefined)[];
  private readonly freeSa: number[] = [];
  private readonly spiIn = new Map<number, Sa>();
  private readonly tunnels = new Map<string, { index: number; routes: IpPrefix[]; outbound?: Sa; policy: TunnelPolicy; local: Uint8Array; remote: Uint8Array }>();
  private readonly tunnelNames: (string | undefined)[];
  private routes: Route[] = [];
  private readonly outboundSa: (Sa | undefined)[];
  private scheduled = false;
  private dead: Error | undefined;
  private closed = false;
  private waiters: { resolve(): void; reject(e: Error): void }[] = [];
  private replies = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextReply = 1;
  private seq = 0;
  private readonly postAt: number;
  /** Packets queued or in workers, not yet returned through onPacket. */
  pending = 0;
  /** Drops by reason seen in results (main thread's view, every worker). */
  readonly dropCounts: Partial<Record<DropReason, number>> = {};
  /** Packets dropped in the main thread: outer fragments with a bad header, datagrams too large for a worker's slot. */
  private readonly mainDrops: Partial<Record<DropReason, bigint>> = {};
  /** Nanoseconds the main thread spent packing batches and unpacking results. */
  mainNs = 0n;

  private constructor(opt: ShardedDataplaneOptions, shards: Shard[], stats: SharedArrayBuffer) {
    this.opt = opt;
    this.workers = shards.length;
    this.shards = shards;
    this.sasCapacity = opt.sas ?? 1024;
    this.stats = new BigInt64Array(stats);
    this.sas = new Array(this.sasCapacity);
    for (let i = this.sasCapacity - 1; i >= 0; i--) this.freeSa.push(i);
    const nt = opt.tunnels ?? 64;
    this.tunnelNames = new Array(nt);
    this.outboundSa = new Array(nt);
    this.reassembler = new Reassembler(opt.reassembly);
    this.postAt = opt.postAt ?? 256;
  }

  /** Start the workers; resolves when every one has its wasm instance. */
  static async create(opt: ShardedDataplaneOptions = {}): Promise<ShardedDataplane> {
    const n = opt.workers ?? 2;
    if (!Number.isInteger(n) || n < 1 || n > 256) fail("ERR_CONFIG", "workers must be an integer from 1 to 256");
    const sas = opt.sas ?? 1024;
    const tunnels = opt.tunnels ?? 64;
    if (!Number.isInteger(sas) || sas < 1 || sas > 1 << 22) fail("ERR_CONFIG", "sas must be an integer from 1 to 2^22");
    if (!Number.isInteger(tunnels) || tunnels < 1 || tunnels > 0xfffe) fail("ERR_CONFIG", "tunnels must be an integer from 1 to 65534");
    const stats = new SharedArrayBuffer(sas * 4 * 8);
    const url = opt.workerUrl ?? defaultWorkerUrl();
    const shards: Shard[] = [];
    const ready: Promise<void>[] = [];
    for (let id = 0; id < n; id++) {
      const init: WorkerInit = { id, sas, tunnels, batch: opt.batch ?? 128, slotBytes: WORKER_SLOT_BYTES, stats };
      const worker = new Worker(url, { workerData: init });
      shards.push({ worker, id, q: [new Writer(64 << 10), new Writer(64 << 10)], inflight: 0, sasIn: 0, sasOut: 0, timing: { worker: id, wasmNs: 0n, jsNs: 0n, packets: 0, batches: 0, utilization: 0 } });
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onMsg = (m: { t: string }) => {
            if (m.t !== "ready") return;
            worker.off("message", onMsg);
            worker.off("error", reject);
            resolve();
          };
          worker.on("message", onMsg);
          worker.once("error", reject);
          worker.once("exit", (code) => reject(new IpsecError("ERR_ENGINE", `dataplane worker ${id} exited (${code}) while starting`)));
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(shards.map((s) => s.worker.terminate()));
      throw e;
    }
    const dp = new ShardedDataplane(opt, shards, stats);
    for (const s of shards) dp.listen(s);
    return dp;
  }

  private listen(s: Shard): void {
    s.worker.removeAllListeners("exit");
    s.worker.on("message", (m: { t: string } & Record<string, unknown>) => this.onMessage(s, m));
    s.worker.on("error", (e) => this.die(new IpsecError("ERR_ENGINE", `dataplane worker ${s.id} failed: ${e.message}`)));
    s.worker.on("exit", (code) => {
      if (!this.closed) this.die(new IpsecError("ERR_ENGINE", `dataplane worker ${s.id} exited (code ${code})`));
    });
  }

  private die(e: Error): void {
    if (this.dead || this.closed) return;
    this.dead = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
    for (const r of this.replies.values()) r.reject(e);
    this.replies.clear();
    this.opt.onError?.(e);
    for (const s of this.shards) void s.worker.terminate();
  }

  private alive(): void {
    if (this.dead) throw new IpsecError("ERR_ENGINE", `the sharded dataplane has failed: ${this.dead.message}`);
    if (this.closed) fail("ERR_DESTROYED", "the sharded dataplane is closed");
  }

  private onMessage(s: Shard, m: { t: string } & Record<string, unknown>): void {
    if (m.t === "res") {
      const t0 = process.hrtime.bigint();
      s.inflight--;
      s.timing.wasmNs = m.wasmNs as bigint;
      s.timing.jsNs = m.jsNs as bigint;
      s.timing.packets = m.packets as number;
      s.timing.batches = m.batches as number;
      const buf = m.buf as ArrayBuffer;
      const dv = new DataView(buf);
      const n = dv.getUint32(0, true);
      let off = 4;
      const on = this.opt.onPacket;
      for (let i = 0; i < n; i++) {
        const meta = dv.getUint32(off, true);
        const len = dv.getUint32(off + 4, true);
        const kind = meta & 0xff;
        if (kind === 0) {
          const r = DROP_REASONS[(meta >>> 8) & 0xff] ?? "none";
          this.dropCounts[r] = (this.dropCounts[r] ?? 0) + 1;
        } else if (on && kind !== 6) {
          const t = meta >>> 16;
          on(KINDS[kind] ?? "other", new Uint8Array(buf, off + 8, len), t === 0xffff ? -1 : t);
        }
        off += 8 + ((len + 3) & ~3);
      }
      this.pending -= m.n as number;
      this.mainNs += process.hrtime.bigint() - t0;
      if (this.pending === 0 && this.waiters.length && this.shards.every((x) => x.inflight === 0 && x.q[0].n + x.q[1].n === 0)) {
        for (const w of this.waiters.splice(0)) w.resolve();
      }
      return;
    }
    if (m.t === "err") {
      const e = new IpsecError((m.code as never) ?? "ERR_ENGINE", `dataplane worker ${s.id}: ${m.message as string}`);
      this.opt.onError?.(e);
      return;
    }
    if (m.t === "reply") {
      const r = this.replies.get(m.id as number);
      this.replies.delete(m.id as number);
      r?.resolve(m.value);
    }
  }

  private ask<T>(s: number, msg: Record<string, unknown>): Promise<T> {
    this.alive();
    const id = this.nextReply++;
    return new Promise<T>((resolve, reject) => {
      this.replies.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.shards[s].worker.postMessage({ ...msg, id });
    });
  }

  private all(msg: Record<string, unknown>): void {
    this.flush(); // commands must not overtake packets queued before them
    for (const s of this.shards) s.worker.postMessage(msg);
  }

  // ───────────────────────────── tunnels ─────────────────────────────

  addTunnel(config: TunnelConfig, policy: TunnelPolicy = "protect"): { name: string; index: number } {
    this.alive();
    const t = checkTunnel(config);
    if (this.tunnels.has(t.name)) fail("ERR_CONFIG", `tunnel '${t.name}' exists already`);
    // The workers' batch slots hold one packet each: refuse an MTU whose packets would not fit.
    if (slotBytesForMtu(t.mtu) > WORKER_SLOT_BYTES) fail("ERR_CONFIG", `tunnel '${t.name}': mtu ${t.mtu} is above what the sharded dataplane's ${WORKER_SLOT_BYTES}-byte slots carry (at most ${WORKER_MAX_MTU})`);
    const index = this.tunnelNames.findIndex((x) => x === undefined);
    if (index < 0) fail("ERR_CONFIG", `at most ${this.tunnelNames.length} tunnels`);
    for (const o of this.tunnels.values()) {
      if (o.local.every((b, i) => b === t.local[i]) && o.remote.every((b, i) => b === t.remote[i])) fail("ERR_CONFIG", `tunnel '${t.name}': another tunnel has the same endpoints`);
    }
    for (const r of t.routes) {
      if (this.routes.some((q) => q.length === r.length && toBig(q.bytes) === toBig(r.bytes))) fail("ERR_CONFIG", `tunnel '${t.name}': route is already routed into another tunnel`);
    }
    this.tunnels.set(t.name, { index, routes: t.routes, policy, local: t.local, remote: t.remote });
    this.tunnelNames[index] = t.name;
    this.routes.push(...t.routes.map((r) => ({ bytes: r.bytes, length: r.length, tunnel: index })));
    this.routes.sort((a, b) => b.length - a.length);
    this.all({ t: "tunnel", config, policy });
    return { name: t.name, index };
  }

  removeTunnel(name: string): void {
    this.alive();
    const t = this.tunnels.get(name);
    if (!t) fail("ERR_CONFIG", `no tunnel '${name}'`);
    this.routes = this.routes.filter((r) => r.tunnel !== t.index);
    this.tunnels.delete(name);
    this.tunnelNames[t.index] = undefined;
    this.outboundSa[t.index] = undefined;
    this.all({ t: "untunnel", name });
  }

  setPolicy(name: string, policy: TunnelPolicy): void {
    this.alive();
    const t = this.tunnels.get(name);
    if (!t) fail("ERR_CONFIG", `no tunnel '${name}'`);
    t.policy = policy;
    this.all({ t: "policy", name, policy });
  }

  /** As Dataplane.applySpd: the first SPD entry for (local, remote, protocol 41) decides. */
  applySpd(spd: Spd): void {
    for (const [name, t] of this.tunnels) {
      const e = spd.lookup({ family: 4, local: toBig(t.local), remote: toBig(t.remote), protocol: PROTO.IPV6_IN_IPV4 });
      this.setPolicy(name, !e ? "discard" : e.action === "protect" ? "protect" : e.action === "bypass" ? "bypass" : "discard");
    }
  }

  tunnelName(index: number): string | undefined {
    return this.tunnelNames[index];
  }

  // ───────────────────────────── SAs ─────────────────────────────

  /** The worker an SA of this direction goes to: the one with fewest of them (ties: spi % N). */
  private pick(spi: number, dir: "in" | "out"): number {
    let best = (spi >>> 0) % this.workers;
    const load = (s: Shard) => (dir === "in" ? s.sasIn : s.sasOut);
    for (const s of this.shards) if (load(s) < load(this.shards[best])) best = s.id;
    return best;
  }

  private install(p: InboundSaParams & OutboundSaParams, dir: "in" | "out", worker?: number): SaHandle {
    this.alive();
    const algorithm = checkSa(p, dir === "in");
    if (dir === "in" && this.spiIn.has(p.spi >>> 0)) fail("ERR_SPI_IN_USE", "an inbound SA with this SPI is already installed");
    const index = this.freeSa.pop();
    if (index === undefined) fail("ERR_SA_TABLE_FULL", `SA table holds at most ${this.sasCapacity} SAs`);
    const w = worker ?? this.pick(p.spi, dir);
    if (!Number.isInteger(w) || w < 0 || w >= this.workers) fail("ERR_CONFIG", `no worker ${String(worker)}`);
    const sa: Sa = Object.freeze({ index, spi: p.spi >>> 0, direction: dir, algorithm, worker: w });
    this.sas[index] = sa;
    if (dir === "in") {
      this.spiIn.set(sa.spi, sa);
      this.shards[w].sasIn++;
    } else this.shards[w].sasOut++;
    // The key travels in a buffer of its own, transferred (not cloned) and wiped by the worker.
    const key = new ArrayBuffer(p.keymat.length);
    new Uint8Array(key).set(p.keymat);
    const { keymat: _k, ...params } = p;
    void _k;
    this.flush();
    this.shards[w].worker.postMessage({ t: "sa", g: index, dir, params, key }, [key]);
    return sa;
  }

  private sa(h: SaHandle): Sa {
    const sa = h && this.sas[h.index];
    if (!sa || sa !== h) fail("ERR_ESP_BAD_SA", "not an installed SA of this dataplane");
    return sa;
  }

  /** The Esp-like part of the API (what IkeEndpoint uses as `dp.esp`). */
  readonly esp = {
    addInbound: (p: InboundSaParams, worker?: number): SaHandle => this.install(p as InboundSaParams & OutboundSaParams, "in", worker),
    addOutbound: (p: OutboundSaParams, worker?: number): SaHandle => this.install(p as InboundSaParams & OutboundSaParams, "out", worker),
    remove: (h: SaHandle): void => this.removeSa(h),
    setSequence: (h: SaHandle, last: bigint): void => {
      const sa = this.sa(h);
      this.flush();
      this.shards[sa.worker].worker.postMessage({ t: "seq", g: sa.index, last });
    },
    lookup: (spi: number): SaHandle | undefined => this.spiIn.get(spi >>> 0),
    /** Counters as of the SA's last batch in its worker (published through shared memory). */
    stats: (h: SaHandle): SaStats => {
      const sa = this.sa(h);
      const o = sa.index * 4;
      const flags = Number(this.stats[o + 3]);
      return {
        spi: sa.spi,
        direction: sa.direction,
        algorithm: sa.algorithm,
        esn: (flags & 4) !== 0,
        spent: (flags & 8) !== 0,
        sequence: BigInt.asUintN(64, this.stats[o + 2]),
        packets: BigInt.asUintN(64, this.stats[o]),
        octets: BigInt.asUintN(64, this.stats[o + 1]),
        drops: {},
      };
    },
  };

  /** Which worker holds an SA. */
  workerOf(h: SaHandle): number {
    return this.sa(h).worker;
  }

  bindSa(h: SaHandle, tunnelName: string, selectors?: SaSelectors): void {
    const sa = this.sa(h);
    const t = this.tunnels.get(tunnelName);
    if (!t) fail("ERR_CONFIG", `no tunnel '${tunnelName}'`);
    if (selectors && [...selectors.local, ...selectors.remote].some((r: AddrRange) => r.family !== 6)) fail("ERR_CONFIG", "tunnel-mode selectors must be IPv6 ranges");
    this.flush();
    this.shards[sa.worker].worker.postMessage({ t: "bind", g: sa.index, tunnel: tunnelName, sel: selectors });
    if (sa.direction === "out") {
      t.outbound = sa;
      this.outboundSa[t.index] = sa;
    }
  }

  /** Remove an SA: its record, key material and replay window are zeroed in its worker's wasm memory. */
  removeSa(h: SaHandle): void {
    const sa = this.sa(h);
    for (const t of this.tunnels.values()) {
      if (t.outbound === sa) {
        t.outbound = undefined;
        this.outboundSa[t.index] = undefined;
      }
    }
    if (sa.direction === "in") {
      this.spiIn.delete(sa.spi);
      this.shards[sa.worker].sasIn--;
    } else this.shards[sa.worker].sasOut--;
    this.sas[sa.index] = undefined;
    this.freeSa.push(sa.index);
    if (this.dead || this.closed) return;
    this.flush();
    this.shards[sa.worker].worker.postMessage({ t: "rm", g: sa.index });
  }

  // ───────────────────────────── packets ─────────────────────────────

  private route(p: Uint8Array): number {
    if (p.length < 40 || p[0] >> 4 !== 6) return -1;
    for (const r of this.routes) {
      const full = r.length >> 3;
      let k = 0;
      while (k < full && p[24 + k] === r.bytes[k]) k++;
      if (k < full) continue;
      const rem = r.length & 7;
      if (rem && ((p[24 + full] ^ r.bytes[full]) & (0xff << (8 - rem)) & 0xff) !== 0) continue;
      return r.tunnel;
    }
    return -1;
  }

  /** The worker an inbound outer IPv4 packet goes to, or -1 when it is a fragment held for reassembly. */
  private inboundWorker(p: Uint8Array): number {
    if (p.length < 20) return 0;
    const ihl = (p[0] & 15) * 4;
    const proto = p[9];
    let spiAt = -1;
    if (proto === 50) spiAt = ihl;
    else if (proto === 17 && p.length >= ihl + 8 + 4) {
      spiAt = ihl + 8;
      if (p.length === ihl + 9 && p[spiAt] === 0xff) return 0; // NAT-keepalive
    } else if (proto === 41) return (((p[12] << 24) | (p[13] << 16) | (p[14] << 8) | p[15]) >>> 0) % this.workers;
    if (spiAt < 0 || p.length < spiAt + 4) return 0;
    const spi = ((p[spiAt] << 24) | (p[spiAt + 1] << 16) | (p[spiAt + 2] << 8) | p[spiAt + 3]) >>> 0;
    if (spi === 0) return 0; // non-ESP marker: IKE
    const sa = this.spiIn.get(spi);
    return sa ? sa.worker : spi % this.workers;
  }

  /** Queue an outer IPv4 packet (raw ESP, or UDP-encapsulated with its IPv4 + UDP headers) for the inbound pipeline. */
  inbound(packet: Uint8Array, now = Date.now()): void {
    this.alive();
    if (packet.length >= 20 && (((packet[6] & 0x3f) << 8) | packet[7]) !== 0) {
      // An outer fragment (MF set or offset ≠ 0): reassembled here, since only the whole datagram
      // has the SPI, after the header checks the wasm pipeline makes before its reassembly.
      if (!ipv4HeaderValid(packet)) return this.dropHere("bad-ipv4");
      const r = this.reassembler.push(packet, now);
      if (r.status !== "complete") return;
      packet = r.packet;
    }
    // A received packet no worker slot can take (a reassembled datagram) is dropped here.
    if (packet.length > WORKER_PACKET_MAX) return this.dropHere("no-room");
    this.enqueue(this.inboundWorker(packet), 0, packet);
  }

  /** A drop in the main thread, counted in dropCounts and drops() as the workers' are. */
  private dropHere(reason: DropReason): void {
    this.dropCounts[reason] = (this.dropCounts[reason] ?? 0) + 1;
    this.mainDrops[reason] = (this.mainDrops[reason] ?? 0n) + 1n;
  }

  /** Queue an inner IPv6 packet for the outbound pipeline. */
  outbound(packet: Uint8Array): void {
    this.alive();
    const t = this.route(packet);
    const sa = t >= 0 ? this.outboundSa[t] : undefined;
    // As PipelineBatch.addPacket: the caller's packet, refused synchronously with a named error.
    if (packet.length > WORKER_PACKET_MAX) fail("ERR_BATCH_FULL", `packet of ${packet.length} bytes does not fit a ${WORKER_SLOT_BYTES}-byte slot`);
    this.enqueue(sa ? sa.worker : t >= 0 ? t % this.workers : 0, 1, packet);
  }

  private enqueue(w: number, dir: 0 | 1, p: Uint8Array): void {
    const s = this.shards[w];
    const q = s.q[dir];
    const at = q.reserve(p.length); // may grow q.u8
    q.u8.set(p, at);
    this.queued(s, dir);
  }

  private queued(s: Shard, dir: 0 | 1): void {
    this.pending++;
    if (s.q[dir].n >= this.postAt) this.post(s, dir);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Queue a UDP-encapsulated datagram as a socket gives it (RFC 3948: ESP, IKE after the
   * non-ESP marker, or a NAT-keepalive), with the outer IPv4 + UDP header rebuilt from the
   * socket's addresses so the pipeline runs every outer check as for a raw packet (as UdpNode
   * does), written straight into the worker's batch: no copy per packet on the way.
   */
  inboundUdp(payload: Uint8Array, source: Uint8Array, sourcePort: number, local: Uint8Array, now?: number): void {
    this.alive();
    const len = 28 + payload.length;
    if (len > 0xffff) return;
    let w: number;
    if (payload.length >= 4) {
      const spi = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
      w = spi === 0 ? 0 : (this.spiIn.get(spi)?.worker ?? spi % this.workers);
    } else w = 0;
    void now;
    const s = this.shards[w];
    const q = s.q[0];
    const at = q.reserve(len);
    const u8 = q.u8;
    u8[at] = 0x45;
    u8[at + 1] = 0;
    u8[at + 2] = len >> 8;
    u8[at + 3] = len & 0xff;
    u8[at + 4] = u8[at + 5] = u8[at + 6] = u8[at + 7] = 0;
    u8[at + 8] = 64;
    u8[at + 9] = 17;
    u8[at + 10] = u8[at + 11] = 0;
    u8[at + 12] = source[0];
    u8[at + 13] = source[1];
    u8[at + 14] = source[2];
    u8[at + 15] = source[3];
    u8[at + 16] = local[0];
    u8[at + 17] = local[1];
    u8[at + 18] = local[2];
    u8[at + 19] = local[3];
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (u8[at + i] << 8) | u8[at + i + 1];
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = ~sum & 0xffff;
    u8[at + 10] = sum >> 8;
    u8[at + 11] = sum & 0xff;
    const ulen = 8 + payload.length;
    // The socket layer has told ESP from IKE already; to the pipeline it is NAT-T (4500).
    u8[at + 20] = sourcePort >> 8;
    u8[at + 21] = sourcePort & 0xff;
    u8[at + 22] = 4500 >> 8;
    u8[at + 23] = 4500 & 0xff;
    u8[at + 24] = ulen >> 8;
    u8[at + 25] = ulen & 0xff;
    u8[at + 26] = u8[at + 27] = 0;
    u8.set(payload, at + 28);
    this.queued(s, 0);
  }

  private post(s: Shard, dir: 0 | 1): void {
    const q = s.q[dir];
    if (q.n === 0) return;
    const t0 = process.hrtime.bigint();
    const n = q.n;
    const buf = q.take();
    s.worker.postMessage({ t: dir === 0 ? "in" : "out", buf, seq: this.seq++, now: Date.now(), n }, [buf]);
    s.inflight++;
    this.mainNs += process.hrtime.bigint() - t0;
  }

  /** Post everything queued now (otherwise it goes at the end of this event-loop turn). */
  flush(): void {
    this.scheduled = false;
    if (this.dead || this.closed) return;
    for (const s of this.shards) {
      this.post(s, 0);
      this.post(s, 1);
    }
  }

  /** Resolves when every packet queued so far has come back through onPacket; rejects if a worker dies. */
  drain(): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    this.flush();
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Drop counters by reason, summed over every worker's wasm counters. */
  async drops(): Promise<Partial<Record<DropReason, bigint>>> {
    const all = await Promise.all(this.shards.map((s) => this.ask<Partial<Record<DropReason, bigint>>>(s.id, { t: "drops" })));
    const out: Partial<Record<DropReason, bigint>> = {};
    for (const d of all) for (const [k, v] of Object.entries(d)) out[k as DropReason] = (out[k as DropReason] ?? 0n) + (v as bigint);
    for (const [k, v] of Object.entries(this.mainDrops)) out[k as DropReason] = (out[k as DropReason] ?? 0n) + v;
    return out;
  }

  /** Per-worker time inside wasm and around it, and event-loop utilization. */
  timing(): ShardTiming[] {
    return this.shards.map((s) => ({ ...s.timing, utilization: s.worker.performance.eventLoopUtilization().utilization }));
  }

  /** @internal tests: ask a worker to crash, or read an SA record / scan its wasm memory. */
  debug(worker: number, op: "crash" | "throw" | "record" | "scan", arg: { sa?: SaHandle; needle?: Uint8Array } = {}): Promise<unknown> {
    if (op === "crash" || op === "throw") {
      this.shards[worker].worker.postMessage({ t: "debug", id: 0, op });
      return Promise.resolve();
    }
    return this.ask(worker, { t: "debug", op, g: arg.sa?.index, needle: arg.needle });
  }

  /**
   * The adapter an IkeEndpoint takes as its `dataplane`: it uses only esp.addInbound,
   * esp.addOutbound, esp.stats, bindSa and removeSa, which this class provides with the
   * same signatures.
   */
  asDataplane(): Dataplane {
    return this as unknown as Dataplane;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new IpsecError("ERR_DESTROYED", "the sharded dataplane was closed"));
    for (const r of this.replies.values()) r.reject(new IpsecError("ERR_DESTROYED", "the sharded dataplane was closed"));
    this.replies.clear();
    await Promise.all(this.shards.map((s) => s.worker.terminate()));
  }
}

/** Create a sharded dataplane with `workers` threads. */
export function createShardedDataplane(options: ShardedDataplaneOptions = {}): Promise<ShardedDataplane> {
  return ShardedDataplane.create(options);
}
