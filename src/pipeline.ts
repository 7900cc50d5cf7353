/**
 * The RFC 4891 pipelines over one wasm instance: RFC 4213 tunnels, the SAD (ESP SA table),
 * routes into tunnels, ingress filters, and outer-fragment reassembly.
 *
 *   outbound(batch): IPv6 packets → route → MTU (ICMPv6 Packet Too Big) → SPD decision of the
 *                    tunnel → SA → ESP → outer IPv4 (raw or UDP-encapsulated)
 *   inbound(batch):  IPv4 packets → reassembly of outer fragments → SPD (BYPASS for IKE) →
 *                    SAD by SPI → ESP → selector check → RFC 4213 checks → IPv6 packets
 *
 * The per-packet work runs in wasm (assembly/pipeline/); this class holds configuration and
 * resolves the SPD once per tunnel: the first SPD entry matching (local endpoint, remote
 * endpoint, protocol 41) decides whether the tunnel is protected, plain or discarded.
 */
import { INSPECT_SYMBOL } from "./redact.js";
import { type AddrRange, type IpPrefix, formatIPv6, prefixRange, toBig } from "./addr.js";
import { fail, IpsecError } from "./errors.js";
import { Core, newCore } from "./core/wasm.js";
import { Esp, EspBatch, type EspBatchOptions, type SaHandle, DROP_REASONS, type DropReason, ESP_SLOT_HEADROOM } from "./esp.js";
import { Reassembler, type ReassemblyOptions } from "./reassembly.js";
import { OutboundSas, selectorBreadth, type OutboundNode } from "./outbound-sas.js";
import { Spd, PROTO } from "./spd.js";
import { checkTunnel, type Tunnel, type TunnelConfig } from "./tunnel.js";

interface PipeAbi {
  lpmCreate(family: number): number;
  lpmInsert(h: number, prefix: number, len: number, value: number): number;
  lpmRemove(h: number, prefix: number, len: number): number;
  lpmDestroy(h: number): number;
  tunnelTableInit(cap: number): number;
  tunnelAdd(i: number, local: number, remote: number, mtu: number, ttl: number, flags: number, allow: number, addr6: number): number;
  tunnelRemove(i: number): number;
  tunnelSetOutboundSa(i: number, sa: number): number;
  saSetNextOut(i: number, next: number): number;
  tunnelSetFlags(i: number, flags: number): number;
  tunnelPtr(i: number): number;
  saBind(i: number, tunnel: number, sel: number): number;
  selectorBytes(nLocal: number, nRemote: number): number;
  pipeOutbound(desc: number, n: number, routes: number): number;
  pipeInbound(desc: number, n: number): number;
  heap_alloc(n: number): number;
}

const TF_PROTECT = 2;
const TF_DF = 4;
const TF_DISCARD = 8;

// Row fields (i32 index), as assembly/esp/descriptor.ts.
const E_KIND = 5;
/** assembly/pipeline/kinds.ts K_FRAGMENT. */
const K_FRAGMENT = 6;
const E_RESULT = 6;
const E_TUNNEL = 10;
const ROW = 12;
/**
 * Most reassembled datagrams held for the next inbound() call when the batch they completed in
 * is full; beyond it they are dropped ("no-room"), so a caller that always passes full batches
 * of fragments cannot make the backlog grow without bound.
 */
const MAX_BACKLOG = 256;

export type PacketKind = "deliver" | "send" | "packet-too-big" | "ike" | "keepalive" | "fragment" | "other" | "dropped";
const KINDS: PacketKind[] = ["dropped", "deliver", "send", "packet-too-big", "ike", "keepalive", "fragment", "other"];

/** A batch of packets for the pipelines: EspBatch slots, read with kind()/output()/reason(). */
export class PipelineBatch extends EspBatch {
  /** What the pipeline did with packet i. */
  verdict(i: number): PacketKind {
    if (this.result(i) < 0) return "dropped";
    return KINDS[this.rowI32(i, E_KIND)] ?? "dropped";
  }

  /** The tunnel packet i belongs to (by route outbound, by SA or endpoints inbound). */
  tunnelIndex(i: number): number {
    return this.rowI32(i, E_TUNNEL);
  }
}

/**
 * Slot size for batches carrying a tunnel's packets both ways: the inner MTU plus the most the
 * outer headers and ESP add (IPv4 20, UDP 8, ESP header 8, IV 8, padding ≤ 255, trailer 2,
 * ICV 16) and the slot's headroom; at least 2048, at most 65,536.
 */
export function slotBytesForMtu(mtu: number): number {
  // At most a batch's largest slot (64 KiB): an outer IPv4 packet cannot be larger anyway.
  return Math.min(1 << 16, Math.max(2048, (mtu + ESP_SLOT_HEADROOM + 20 + 8 + 8 + 8 + 255 + 2 + 16 + 15) & ~15));
}

/** Slot size for batches carrying the packets of these tunnels: the largest MTU's (1280 at least). */
export function slotBytesForTunnels(tunnels: Iterable<{ mtu: number }>): number {
  let mtu = 1280;
  for (const t of tunnels) mtu = Math.max(mtu, t.mtu);
  return slotBytesForMtu(mtu);
}

export interface DataplaneOptions {
  /** Most SAs (default 1024). */
  sas?: number;
  /** Most tunnels (default 64). */
  tunnels?: number;
  reassembly?: ReassemblyOptions;
}

export type TunnelPolicy = "protect" | "bypass" | "discard";

export interface TunnelState extends Tunnel {
  policy: TunnelPolicy;
  /** The newest outbound SA bound to the tunnel (the one a transport-mode tunnel sends with). */
  outboundSa?: SaHandle;
}

interface TunnelInternal extends TunnelState {
  allowHandle: number;
  /** The outbound SAs bound to the tunnel, in the order the wasm pipeline walks them. */
  outbound: OutboundSas;
}

export interface SaSelectors {
  /** Our side's IPv6 ranges (tunnel mode, RFC 4891 Appendix A). */
  local: AddrRange[];
  /** The peer's IPv6 ranges. */
  remote: AddrRange[];
  /** Next-layer protocol, or -1 for ANY. */
  protocol?: number;
}

export class Dataplane {
  /** A summary in util.inspect / JSON.stringify: never a dump of wasm memory (SA records hold key schedules). */
  [INSPECT_SYMBOL](): string {
    return `Dataplane { tunnels: ${this.tunnels.size}, sas: ${this.esp.size}/${this.esp.capacity} }`;
  }

  toJSON(): object {
    return { tunnels: this.tunnels.size, sas: this.esp.size, capacity: this.esp.capacity };
  }

  readonly core: Core;
  readonly esp: Esp;
  readonly reassembler: Reassembler;
  private readonly abi: PipeAbi;
  private readonly routes: number;
  private readonly tunnels = new Map<string, TunnelInternal>();
  private readonly byIndex: (TunnelState | undefined)[];
  /** Reassembled datagrams waiting for room in a batch (at most MAX_BACKLOG). */
  private readonly backlog: Uint8Array[] = [];
  /** Reassembled datagrams dropped as "no-room": larger than a batch slot, or the backlog full. */
  private noRoom = 0n;

  /** @internal use createDataplane */
  constructor(core: Core, options: DataplaneOptions) {
    this.core = core;
    this.abi = core.x as unknown as PipeAbi;
    this.esp = new Esp(core, options.sas ?? 1024);
    const nt = options.tunnels ?? 64;
    if (!Number.isInteger(nt) || nt < 1 || nt > 1 << 20) fail("ERR_CONFIG", "tunnels must be an integer from 1 to 2^20");
    if (!this.abi.tunnelTableInit(nt)) fail("ERR_OUT_OF_MEMORY", "cannot allocate the tunnel table");
    this.byIndex = new Array<TunnelState | undefined>(nt);
    this.routes = this.abi.lpmCreate(6);
    this.reassembler = new Reassembler(options.reassembly);
  }

  private withBytes<T>(bytes: Uint8Array, f: (ptr: number) => T): T {
    const p = this.core.alloc(Math.max(16, bytes.length));
    this.core.u8.set(bytes, p);
    try {
      return f(p);
    } finally {
      this.core.free(p, Math.max(16, bytes.length));
    }
  }

  private lpmAdd(h: number, p: IpPrefix, value: number): void {
    const r = this.withBytes(p.bytes, (ptr) => this.abi.lpmInsert(h, ptr, p.length, value));
    if (r < 0) fail("ERR_CONFIG", `cannot add prefix (code ${r})`);
  }

  /** Configure an RFC 4213 tunnel. `policy` is what the SPD says for protocol 41 between its endpoints. */
  addTunnel(config: TunnelConfig, policy: TunnelPolicy = "protect"): TunnelState {
    const t = checkTunnel(config);
    if (this.tunnels.has(t.name)) fail("ERR_CONFIG", `tunnel '${t.name}' exists already`);
    const index = this.byIndex.findIndex((x) => x === undefined);
    if (index < 0) fail("ERR_CONFIG", `at most ${this.byIndex.length} tunnels`);
    for (const r of t.routes) {
      const owner = [...this.tunnels.values()].find((o) => o.routes.some((q) => q.length === r.length && toBig(q.bytes) === toBig(r.bytes)));
      if (owner) fail("ERR_CONFIG", `tunnel '${t.name}': route ${formatIPv6(r.bytes)}/${r.length} is already routed into '${owner.name}'`);
    }
    const allow = this.abi.lpmCreate(6);
    for (const p of t.allow) this.lpmAdd(allow, p, 1);
    const u32 = (b: Uint8Array) => ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    const r = this.withBytes(t.address, (ptr) =>
      this.abi.tunnelAdd(index, u32(t.local), u32(t.remote), t.mtu, t.ttl, flagsOf(policy, t.df), allow, ptr),
    );
    if (r !== 0) {
      this.abi.lpmDestroy(allow);
      fail("ERR_CONFIG", r === -4 ? `tunnel '${t.name}': another tunnel has the same endpoints` : `tunnel '${t.name}' refused (code ${r})`);
    }
    for (const p of t.routes) this.lpmAdd(this.routes, p, index);
    const state: TunnelInternal = { ...t, index, policy, allowHandle: allow, outbound: new OutboundSas() };
    this.tunnels.set(t.name, state);
    this.byIndex[index] = state;
    return state;
  }

  removeTunnel(name: string): void {
    const t = this.tunnel(name);
    for (const p of t.routes) this.withBytes(p.bytes, (ptr) => this.abi.lpmRemove(this.routes, ptr, p.length));
    this.abi.tunnelRemove(t.index);
    this.abi.lpmDestroy(t.allowHandle);
    // Its outbound SAs belong to no list now (the index may go to another tunnel).
    for (const n of [...t.outbound]) this.outNodes.delete(n.sa);
    this.tunnels.delete(name);
    this.byIndex[t.index] = undefined;
  }

  private tunnel(name: string): TunnelInternal {
    const t = this.tunnels.get(name);
    if (!t) fail("ERR_CONFIG", `no tunnel '${name}'`);
    return t;
  }

  tunnelByIndex(i: number): TunnelState | undefined {
    return this.byIndex[i];
  }

  /**
   * Resolve the SPD for every tunnel (RFC 4301 §4.4.1, first match): the entry for
   * (local endpoint, remote endpoint, protocol 41) decides PROTECT, BYPASS or DISCARD;
   * no entry means DISCARD (RFC 4301 §5.1: no match, no traffic).
   */
  applySpd(spd: Spd): void {
    for (const t of this.tunnels.values()) {
      const e = spd.lookup({ family: 4, local: toBig(t.local), remote: toBig(t.remote), protocol: PROTO.IPV6_IN_IPV4 });
      const policy: TunnelPolicy = !e ? "discard" : e.action === "protect" ? "protect" : e.action === "bypass" ? "bypass" : "discard";
      this.setPolicy(t.name, policy);
    }
  }

  setPolicy(name: string, policy: TunnelPolicy): void {
    const t = this.tunnel(name);
    this.abi.tunnelSetFlags(t.index, flagsOf(policy, t.df));
    t.policy = policy;
  }

  /**
   * Bind an installed SA to a tunnel. An outbound SA joins the tunnel's list, most specific
   * selectors first and newest first among equals: a packet leaves with the first SA whose
   * selectors cover it (install the new one before removing the old: make-before-break;
   * several CHILD_SAs with their own selectors share a tunnel).
   * `selectors` make it a tunnel-mode SA whose inner addresses are checked both ways (RFC 4891
   * Appendix A, RFC 4301 §5.1); without them it carries everything.
   */
  bindSa(sa: SaHandle, tunnelName: string, selectors?: SaSelectors): void {
    const t = this.tunnel(tunnelName);
    let sel = 0;
    if (selectors) {
      const ranges = [...selectors.local, ...selectors.remote];
      if (ranges.some((r) => r.family !== 6)) fail("ERR_CONFIG", "tunnel-mode selectors must be IPv6 ranges");
      const bytes = this.abi.selectorBytes(selectors.local.length, selectors.remote.length);
      sel = this.core.alloc(bytes);
      const u8 = this.core.u8;
      const dv = new DataView(u8.buffer);
      u8.fill(0, sel, sel + bytes);
      dv.setInt32(sel, selectors.local.length, true);
      dv.setInt32(sel + 4, selectors.remote.length, true);
      ranges.forEach((r, k) => {
        const e = sel + 16 + 48 * k;
        for (let b = 0; b < 16; b++) {
          const shift = BigInt(8 * (15 - b));
          u8[e + b] = Number((r.start >> shift) & 0xffn);
          u8[e + 16 + b] = Number((r.end >> shift) & 0xffn);
        }
        dv.setInt32(e + 32, selectors.protocol ?? -1, true);
      });
    }
    const r = this.abi.saBind(sa.index, t.index, sel);
    if (r !== 0) fail("ERR_ESP_BAD_SA", "not an installed SA");
    if (sa.direction === "out") {
      this.unlinkOutbound(sa);
      const node: OutboundNode = { sa, breadth: selectorBreadth(selectors) };
      t.outbound.insert(node);
      this.outNodes.set(sa, { node, tunnel: t });
      this.mirror(t, node);
    }
  }

  /** Remove an SA; its tunnel sends with the next SA of its list, or has none. */
  removeSa(sa: SaHandle): void {
    this.unlinkOutbound(sa);
    this.esp.remove(sa);
  }

  /** Each bound outbound SA's place in its tunnel's list (src/outbound-sas.ts). */
  private readonly outNodes = new Map<SaHandle, { node: OutboundNode; tunnel: TunnelInternal }>();

  /** Take an outbound SA out of its tunnel's list, in JS and in wasm memory. */
  private unlinkOutbound(sa: SaHandle): void {
    const e = this.outNodes.get(sa);
    if (!e) return;
    this.outNodes.delete(sa);
    const { prev, next } = e.node;
    e.tunnel.outbound.remove(e.node);
    if (prev) this.abi.saSetNextOut(prev.sa.index, next?.sa.index ?? -1);
    else this.abi.tunnelSetOutboundSa(e.tunnel.index, next?.sa.index ?? -1);
    e.tunnel.outboundSa = e.tunnel.outbound.head?.sa;
  }

  /** Mirror an inserted node into wasm memory: its next in its record, itself in its predecessor's or as the head. */
  private mirror(t: TunnelInternal, node: OutboundNode): void {
    this.abi.saSetNextOut(node.sa.index, node.next?.sa.index ?? -1);
    if (node.prev) this.abi.saSetNextOut(node.prev.sa.index, node.sa.index);
    else this.abi.tunnelSetOutboundSa(t.index, node.sa.index);
    t.outboundSa = t.outbound.head?.sa;
  }

  createBatch(options?: EspBatchOptions): PipelineBatch {
    return new PipelineBatch(this.esp, options);
  }

  /** IPv6 packets (added with addPacket) → outer IPv4 packets to send (verdict "send"). */
  outbound(batch: PipelineBatch): number {
    batch.check(this.esp);
    return this.abi.pipeOutbound(batch.desc, batch.length, this.routes);
  }

  /**
   * IPv4 packets (added with addPacket) → IPv6 packets to deliver (verdict "deliver").
   * Outer fragments are taken into reassembly (verdict "fragment"); a datagram they complete
   * is appended to the batch and run through the pipeline in the same call when the batch
   * has room, or at the start of the next call (up to MAX_BACKLOG datagrams wait). A datagram
   * larger than the batch's slots (slotBytes − 64), or one finding the backlog full, is dropped
   * and counted as "no-room" in drops().
   */
  inbound(batch: PipelineBatch, now = Date.now()): number {
    batch.check(this.esp);
    // Datagrams completed earlier go first.
    while (this.backlog.length && batch.length < batch.capacity) {
      const p = this.backlog.shift()!;
      if (batch.fits(p.length)) batch.addPacket(p);
      else this.noRoom++;
    }
    let delivered = this.abi.pipeInbound(batch.desc, batch.length);
    let from = 0;
    for (let round = 0; round < 4; round++) {
      const end = batch.length;
      // Scan the rows' kind/result words directly: this runs for every inbound batch. A datagram
      // a fragment completes is copied into the batch at once (the reassembler's view is valid
      // until its next call), or into the backlog when the batch is full.
      const i32 = this.core.i32;
      const base = batch.desc >> 2;
      for (let i = from; i < end; i++) {
        const row = base + i * ROW;
        if (i32[row + E_RESULT] < 0 || i32[row + E_KIND] !== K_FRAGMENT) continue;
        const p = this.reassembler.pushView(batch.output(i), now);
        if (p === null) continue;
        if (!batch.fits(p.length)) this.noRoom++;
        else if (batch.length < batch.capacity) batch.addPacket(p);
        else if (this.backlog.length < MAX_BACKLOG) this.backlog.push(p.slice());
        else this.noRoom++;
      }
      if (batch.length === end) break;
      from = end;
      delivered += this.abi.pipeInbound(batch.desc + end * ROW * 4, batch.length - end);
    }
    return delivered;
  }

  /** @internal A received packet its caller could not put in a batch (larger than the slots): counted as "no-room". */
  countNoRoom(): void {
    this.noRoom++;
  }

  /** Drop counters by reason, for the whole dataplane. */
  drops(): Partial<Record<DropReason, bigint>> {
    const d = this.esp.drops();
    if (this.noRoom > 0n) d["no-room"] = (d["no-room"] ?? 0n) + this.noRoom;
    return d;
  }

  static readonly dropReasons = DROP_REASONS;
}

function flagsOf(policy: TunnelPolicy, df: boolean): number {
  return (policy === "protect" ? TF_PROTECT : policy === "discard" ? TF_DISCARD : 0) | (df ? TF_DF : 0);
}

/** Create a dataplane with its own wasm instance. */
export async function createDataplane(options: DataplaneOptions = {}): Promise<Dataplane> {
  return new Dataplane(await newCore(), options);
}

export { prefixRange, IpsecError };
