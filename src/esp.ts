/**
 * ESP (RFC 4303, RFC 3948) with AES-GCM (RFC 4106), ChaCha20-Poly1305 (RFC 7634) or
 * AES-GMAC (RFC 4543, integrity only) over the SA table in wasm memory.
 *
 * An `Esp` owns one wasm instance holding its SA table (the hot part of the SAD: keys,
 * sequence numbers, replay windows, counters). Packets travel in `EspBatch`es: slots in
 * wasm memory, one call per batch; results are views into the same memory.
 */
import { fail, IpsecError, type ErrorCode } from "./errors.js";
import { Core, copyOut, newCore } from "./core/wasm.js";
import { currentKeystreamProvider, type KeystreamCipher, type KeystreamProvider } from "./core/keystream.js";

/** Drop reasons, in the order of assembly/esp/drop.ts. */
export const DROP_REASONS = [
  "none",
  "runt",
  "bad-length",
  "unknown-spi",
  "replayed",
  "too-old",
  "integrity-failure",
  "bad-padding",
  "dummy",
  "sequence-exhausted",
  "no-room",
  "bad-sa",
  "bad-sequence",
  "bad-udp",
  "bad-ipv4",
  "bad-ipv6",
  "spoofed-outer-source",
  "inner-unspecified",
  "inner-loopback",
  "inner-multicast",
  "inner-v4-mapped",
  "inner-v4-compatible",
  "ingress-prefix",
  "cleartext-protected",
  "selector-mismatch",
  "not-ipv6",
  "no-tunnel",
  "no-route",
  "no-outbound-sa",
  "too-big",
  "not-tunnel",
  "policy-discard",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** The error code each drop reason maps to on the per-packet API. */
export const DROP_CODES: Record<DropReason, ErrorCode> = {
  none: "OK",
  runt: "ERR_ESP_RUNT",
  "bad-length": "ERR_ESP_LENGTH",
  "unknown-spi": "ERR_ESP_NO_SA",
  replayed: "ERR_ESP_REPLAY",
  "too-old": "ERR_ESP_TOO_OLD",
  "integrity-failure": "ERR_AUTH",
  "bad-padding": "ERR_ESP_PADDING",
  dummy: "ERR_ESP_DUMMY",
  "sequence-exhausted": "ERR_ESP_SEQ_EXHAUSTED",
  "no-room": "ERR_ESP_NO_ROOM",
  "bad-sa": "ERR_ESP_BAD_SA",
  "bad-sequence": "ERR_ESP_BAD_SEQ",
  "bad-udp": "ERR_UDP_LENGTH",
  "bad-ipv4": "ERR_IPV4_HEADER",
  "bad-ipv6": "ERR_IPV6_HEADER",
  "spoofed-outer-source": "ERR_SPOOFED_OUTER",
  "inner-unspecified": "ERR_SPOOFED_INNER",
  "inner-loopback": "ERR_SPOOFED_INNER",
  "inner-multicast": "ERR_SPOOFED_INNER",
  "inner-v4-mapped": "ERR_SPOOFED_INNER",
  "inner-v4-compatible": "ERR_SPOOFED_INNER",
  "ingress-prefix": "ERR_INGRESS",
  "cleartext-protected": "ERR_CLEARTEXT",
  "selector-mismatch": "ERR_SELECTOR",
  "not-ipv6": "ERR_NOT_IPV6",
  "no-tunnel": "ERR_NO_TUNNEL",
  "no-route": "ERR_NO_ROUTE",
  "no-outbound-sa": "ERR_NO_SA",
  "too-big": "ERR_TOO_BIG",
  "not-tunnel": "ERR_NOT_TUNNEL",
  "policy-discard": "ERR_POLICY_DISCARD",
};

export class EspDropError extends IpsecError {
  readonly reason: DropReason;
  constructor(reason: DropReason, detail = "") {
    super(DROP_CODES[reason], `ESP packet dropped: ${reason}${detail ? ` (${detail})` : ""}`);
    this.name = "EspDropError";
    this.reason = reason;
  }
}

const SA_ERRORS: Record<number, [ErrorCode, string]> = {
  [-1]: ["ERR_SA_INDEX", "SA table full or index out of range"],
  [-2]: ["ERR_SA_INDEX", "SA slot already in use"],
  [-3]: ["ERR_KEY_LENGTH", "key length does not suit the algorithm (AES: 16, 24 or 32 bytes; ChaCha20: 32; plus a 4-byte salt)"],
  [-4]: ["ERR_TAG_LENGTH", "ICV length does not suit the algorithm (AES-GCM: 8, 12 or 16 bytes; ChaCha20-Poly1305, AES-GMAC: 16)"],
  [-5]: ["ERR_SPI_IN_USE", "an inbound SA with this SPI is already installed"],
  [-6]: ["ERR_REPLAY_WINDOW", "replay window must be 0 (disabled) or a power of two from 32 to 65536"],
  [-7]: ["ERR_SPI", "SPI 0 is reserved (RFC 4303 §2.1)"],
  [-8]: ["ERR_OUT_OF_MEMORY", "no wasm memory for the replay window"],
  [-9]: ["ERR_INPUT_TYPE", "unknown ESP algorithm"],
};

/**
 * ESP algorithms:
 *  - "aes-gcm": RFC 4106, AES-128/192/256, ICV 8, 12 or 16; keymat = key ‖ 4-byte salt
 *  - "chacha20-poly1305": RFC 7634, 256-bit key, ICV 16; keymat = key ‖ 4-byte salt (36 bytes)
 *  - "aes-gmac": RFC 4543 ENCR_NULL_AUTH_AES_GMAC, AES-128/192/256, ICV 16; keymat = key ‖
 *    4-byte salt. Integrity only: the payload is NOT encrypted.
 */
export type EspAlgorithm = "aes-gcm" | "chacha20-poly1305" | "aes-gmac";
export const ESP_ALGORITHMS: readonly EspAlgorithm[] = ["aes-gcm", "chacha20-poly1305", "aes-gmac"];

/** Per algorithm: its number in assembly/esp/sa.ts (ALG_*), key lengths and ICV lengths. */
const ALG: Record<EspAlgorithm, { id: number; keys: readonly number[]; icvs: readonly number[]; name: string }> = {
  "aes-gcm": { id: 0, keys: [16, 24, 32], icvs: [8, 12, 16], name: "AES-GCM (RFC 4106)" },
  "chacha20-poly1305": { id: 1, keys: [32], icvs: [16], name: "ChaCha20-Poly1305 (RFC 7634)" },
  "aes-gmac": { id: 2, keys: [16, 24, 32], icvs: [16], name: "AES-GMAC (RFC 4543)" },
};
/** RFC 4106 §8.1, RFC 7634 §2, RFC 4543 §5.4: keymat = key ‖ 4-byte salt. */
const SALT_LENGTH = 4;

function saError(r: number): never {
  const [code, msg] = SA_ERRORS[r] ?? ["ERR_ENGINE", `SA operation failed (${r})`];
  throw new IpsecError(code, msg);
}

export interface SaParams {
  /** Security Parameters Index (RFC 4303 §2.1), 1..2^32−1. */
  spi: number;
  /** Default "aes-gcm". "aes-gmac" authenticates only: the payload is sent in the clear. */
  algorithm?: EspAlgorithm;
  /**
   * Key ‖ 4-byte salt: 20, 28 or 36 bytes for AES-GCM (RFC 4106 §8.1) and AES-GMAC
   * (RFC 4543 §5.4); 36 bytes for ChaCha20-Poly1305 (RFC 7634 §2).
   */
  keymat: Uint8Array;
  /** ICV length: 8, 12 or 16 for AES-GCM; 16 only for ChaCha20-Poly1305 and AES-GMAC (default 16). */
  icvLength?: number;
  /** Extended sequence numbers (RFC 4303 §2.2.1). */
  esn?: boolean;
}

export interface InboundSaParams extends SaParams {
  /** Replay window in packets: a power of two from 32 to 65536 (default 1024), or 0 to disable. */
  replayWindow?: number;
}

export interface OutboundSaParams extends SaParams {
  /** RFC 3948 UDP encapsulation ports (source, destination; 4500 normally). */
  encap?: { sourcePort: number; destinationPort: number };
  /** Extra padding bytes per packet (traffic flow confidentiality), multiple of 4, ≤ 252. */
  tfcPadding?: number;
}

export interface SaHandle {
  readonly index: number;
  readonly spi: number;
  readonly direction: "in" | "out";
  readonly algorithm: EspAlgorithm;
}

export interface SaStats {
  spi: number;
  direction: "in" | "out";
  algorithm: EspAlgorithm;
  esn: boolean;
  spent: boolean;
  /** Outbound: last sequence number sent. */
  sequence: bigint;
  packets: bigint;
  octets: bigint;
  drops: Partial<Record<DropReason, bigint>>;
}

interface Abi {
  saTableInit(cap: number): number;
  saRecordBytes(): number;
  saInstall(i: number, spi: number, key: number, keyLen: number, icv: number, inbound: number, esn: number, w: number): number;
  saInstallAlg(i: number, alg: number, spi: number, key: number, keyLen: number, icv: number, inbound: number, esn: number, w: number): number;
  saRemove(i: number): number;
  saSetSeq(i: number, seq: bigint): number;
  saSetEncap(i: number, sport: number, dport: number): number;
  saSetTfcPad(i: number, bytes: number): number;
  saPtr(i: number): number;
  saLookup(spi: number): number;
  espProtectBatch(desc: number, n: number): number;
  espUnprotectBatch(desc: number, n: number): number;
  espUnprotectCounters(desc: number, n: number, sa: number, ks: number, off: number): number;
  espUnprotectBatchKs(desc: number, n: number, ks: number): number;
  wipe(ptr: number, len: number): void;
  udpDemuxBatch(desc: number, n: number, hasHeader: number): number;
  dropCountersPtr(): number;
}

// Descriptor fields (i32 index), mirroring assembly/esp/descriptor.ts.
const E_SA = 0, E_BUF = 1, E_OFF = 2, E_LEN = 3, E_CAP = 4, E_NH = 5, E_RESULT = 6, E_OUT_OFF = 7, E_SEQ_LO = 8, E_SEQ_HI = 9;
/** Keystream bytes a slot can need beyond its length: J0, and the last partial block rounded up. */
const KS_SLACK = 32;
const ROW = 12;
/** Headroom in every slot: room for SPI ‖ seq ‖ IV and, later, outer IPv4 + UDP headers. */
export const ESP_SLOT_HEADROOM = 64;
const NOT_RUN = -1000;

function u32(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    fail("ERR_INPUT_TYPE", `${name} must be an integer from ${lo} to ${hi}, not ${String(v)}`);
  }
  return v;
}

/**
 * How inbound AES-GCM SAs get their AES keystream (the output is the same byte for byte):
 *  - "wasm": AES-CTR in wasm, packet by packet; the only engine in browsers.
 *  - "node": per batch and SA, the counter blocks of all its packets go through one
 *    node:crypto AES-ECB call (AES-NI); GHASH, the constant-time tag check, replay and every
 *    other step stay in wasm. Pays off when a batch holds many packets of few SAs (the
 *    decoder); outbound and other algorithms always use wasm.
 */
export type EspEngine = "wasm" | "node";

export interface EspOptions {
  /** Most SAs installed at once (default 1024). */
  capacity?: number;
  /** Default "wasm"; "auto": "node" where node:crypto is available, else "wasm". */
  engine?: "auto" | EspEngine;
}

export class Esp {
  readonly capacity: number;
  readonly engine: EspEngine;
  /** @internal */ readonly core: Core;
  private readonly abi: Abi;
  private readonly free: number[] = [];
  private readonly handles = new Map<number, SaHandle>();
  private readonly recordBytes: number;
  private readonly provider: KeystreamProvider | undefined;
  /** "node" engine: the keystream cipher of each inbound AES-GCM SA, by SA index. */
  private readonly ciphers = new Map<number, KeystreamCipher>();

  /** @internal use createEsp */
  constructor(core: Core, capacity: number, engine: "auto" | EspEngine = "wasm") {
    if (engine !== "auto" && engine !== "wasm" && engine !== "node") {
      fail("ERR_ENGINE", `engine must be "auto", "wasm" or "node", not ${String(engine)}`);
    }
    const provider = engine === "wasm" ? undefined : currentKeystreamProvider();
    if (engine === "node" && !provider) fail("ERR_ENGINE", 'engine "node" needs node:crypto, which this runtime lacks');
    this.provider = provider;
    this.engine = provider ? "node" : "wasm";
    this.core = core;
    this.abi = core.x as unknown as Abi;
    this.capacity = capacity;
    if (!this.abi.saTableInit(capacity)) fail("ERR_OUT_OF_MEMORY", `cannot allocate an SA table for ${capacity} SAs`);
    this.recordBytes = this.abi.saRecordBytes();
    for (let i = capacity - 1; i >= 0; i--) this.free.push(i);
  }

  /** Bytes of wasm memory per SA record (the replay bitmap of inbound SAs comes on top). */
  get bytesPerSa(): number {
    return this.recordBytes;
  }

  get size(): number {
    return this.handles.size;
  }

  private install(p: SaParams, inbound: boolean, window: number): SaHandle {
    if (p === null || typeof p !== "object") fail("ERR_INPUT_TYPE", "SA parameters must be an object");
    const spi = u32("spi", p.spi, inbound ? 1 : 0, 0xffffffff);
    const algorithm = p.algorithm ?? "aes-gcm";
    if (!Object.hasOwn(ALG, algorithm)) {
      fail("ERR_INPUT_TYPE", `algorithm must be one of ${ESP_ALGORITHMS.map((a) => `"${a}"`).join(", ")}, not ${String(algorithm)}`);
    }
    const alg = ALG[algorithm];
    if (!(p.keymat instanceof Uint8Array)) fail("ERR_INPUT_TYPE", "keymat must be a Uint8Array");
    const keyLen = p.keymat.length - SALT_LENGTH;
    if (!alg.keys.includes(keyLen)) {
      const want = alg.keys.map((k) => k + SALT_LENGTH).join(", ").replace(/, (\d+)$/, " or $1");
      fail("ERR_KEY_LENGTH", `${alg.name} keymat must be key ‖ 4-byte salt: ${want} bytes, not ${p.keymat.length}`);
    }
    const icv = p.icvLength ?? 16;
    if (!alg.icvs.includes(icv)) {
      fail("ERR_TAG_LENGTH", `${alg.name} ICV length must be ${alg.icvs.join(", ").replace(/, (\d+)$/, " or $1")}, not ${String(icv)}`);
    }
    if (p.esn !== undefined && typeof p.esn !== "boolean") fail("ERR_INPUT_TYPE", "esn must be a boolean");
    const index = this.free.pop();
    if (index === undefined) fail("ERR_SA_TABLE_FULL", `SA table holds at most ${this.capacity} SAs`);
    const kp = this.core.alloc(48);
    this.core.u8.set(p.keymat, kp);
    const r = this.abi.saInstallAlg(index, alg.id, spi, kp, keyLen, icv, inbound ? 1 : 0, p.esn ? 1 : 0, window);
    this.core.free(kp, 48);
    if (r !== 0) {
      this.free.push(index);
      saError(r);
    }
    const h: SaHandle = Object.freeze({ index, spi, direction: inbound ? "in" : "out", algorithm } as const);
    this.handles.set(index, h);
    if (this.provider && inbound && algorithm === "aes-gcm") this.ciphers.set(index, this.provider(p.keymat.subarray(0, keyLen)));
    return h;
  }

  /** Install an inbound SA (entered in the SPI lookup inside wasm). */
  addInbound(p: InboundSaParams): SaHandle {
    const w = p.replayWindow ?? 1024;
    if (typeof w !== "number" || !Number.isInteger(w)) fail("ERR_REPLAY_WINDOW", "replay window must be an integer");
    return this.install(p, true, w);
  }

  /** Install an outbound SA. */
  addOutbound(p: OutboundSaParams): SaHandle {
    if (p?.encap !== undefined) {
      u32("encap.sourcePort", p.encap?.sourcePort, 1, 65535);
      u32("encap.destinationPort", p.encap?.destinationPort, 1, 65535);
    }
    if (p?.tfcPadding !== undefined && (u32("tfcPadding", p.tfcPadding, 0, 252) & 3) !== 0) {
      fail("ERR_INPUT_TYPE", "tfcPadding must be a multiple of 4");
    }
    const h = this.install(p, false, 0);
    if (p.encap) this.abi.saSetEncap(h.index, p.encap.sourcePort, p.encap.destinationPort);
    if (p.tfcPadding) this.abi.saSetTfcPad(h.index, p.tfcPadding);
    return h;
  }

  private handle(sa: SaHandle): number {
    if (!sa || this.handles.get(sa.index) !== sa) fail("ERR_ESP_BAD_SA", "not an installed SA of this Esp");
    return sa.index;
  }

  /** Remove an SA: its record, key material and replay window are zeroed in wasm memory. */
  remove(sa: SaHandle): void {
    const i = this.handle(sa);
    this.abi.saRemove(i);
    this.handles.delete(i);
    this.ciphers.get(i)?.destroy();
    this.ciphers.delete(i);
    this.free.push(i);
  }

  /** Set an outbound SA's counter (the last sequence number sent). */
  setSequence(sa: SaHandle, last: bigint): void {
    const i = this.handle(sa);
    if (typeof last !== "bigint" || last < 0n || last > 0xffffffffffffffffn) fail("ERR_INPUT_TYPE", "sequence must be a bigint from 0 to 2^64-1");
    this.abi.saSetSeq(i, BigInt.asIntN(64, last));
  }

  /** Find the inbound SA for an SPI, as the hot path does. */
  lookup(spi: number): SaHandle | undefined {
    const i = this.abi.saLookup(spi >>> 0);
    return i < 0 ? undefined : this.handles.get(i);
  }

  stats(sa: SaHandle): SaStats {
    const i = this.handle(sa);
    const base = this.abi.saPtr(i);
    const layout = saLayout(this);
    const dv = new DataView(this.core.x.memory.buffer);
    const flags = dv.getUint32(base + layout.flags, true);
    const drops: Partial<Record<DropReason, bigint>> = {};
    DROP_REASONS.forEach((r, k) => {
      const v = dv.getBigUint64(base + layout.drops + 8 * k, true);
      if (k > 0 && v > 0n) drops[r] = v;
    });
    return {
      spi: sa.spi,
      direction: sa.direction,
      algorithm: sa.algorithm,
      esn: (flags & 4) !== 0,
      spent: (flags & 8) !== 0,
      sequence: dv.getBigUint64(base + layout.seq, true),
      packets: dv.getBigUint64(base + layout.pkts, true),
      octets: dv.getBigUint64(base + layout.octets, true),
      drops,
    };
  }

  /** Global drop counters by reason (every SA, and packets that matched none). */
  drops(): Partial<Record<DropReason, bigint>> {
    const p = this.abi.dropCountersPtr();
    const dv = new DataView(this.core.x.memory.buffer);
    const out: Partial<Record<DropReason, bigint>> = {};
    DROP_REASONS.forEach((r, k) => {
      const v = dv.getBigUint64(p + 8 * k, true);
      if (k > 0 && v > 0n) out[r] = v;
    });
    return out;
  }

  /** The raw bytes of an SA's hot state (record and replay window), for tests and snapshots. */
  snapshot(sa: SaHandle): Uint8Array {
    const i = this.handle(sa);
    const base = this.abi.saPtr(i);
    const layout = saLayout(this);
    const dv = new DataView(this.core.x.memory.buffer);
    const rp = dv.getUint32(base + layout.replay, true);
    const rl = dv.getUint32(base + layout.replayLen, true);
    const out = new Uint8Array(this.recordBytes + rl);
    out.set(this.core.u8.subarray(base, base + this.recordBytes));
    if (rp) out.set(this.core.u8.subarray(rp, rp + rl), this.recordBytes);
    return out;
  }

  createBatch(options?: EspBatchOptions): EspBatch {
    return new EspBatch(this, options);
  }

  /** Protect every packet of the batch (added with addPayload) with one call. */
  protect(batch: EspBatch): number {
    batch.check(this);
    return this.abi.espProtectBatch(batch.desc, batch.length);
  }

  /** Unprotect every packet of the batch (added with addPacket) with one call. */
  unprotect(batch: EspBatch): number {
    batch.check(this);
    const n = batch.length;
    if (this.ciphers.size === 0 || n === 0) return this.abi.espUnprotectBatch(batch.desc, n);
    // "node" engine (assembly/esp/esp.ts, keystream path): SA lookup; per SA of the batch with
    // a cipher, its packets' counter blocks and one AES-ECB call over them; then unprotect.
    const x = this.abi;
    const desc = batch.desc;
    x.espUnprotectCounters(desc, n, -1, 0, 0);
    const ks = batch.keystreamArea();
    let end = 0;
    try {
      let done: number[] | undefined;
      const i32 = this.core.i32;
      for (let i = 0, row = desc >> 2; i < n; i++, row += ROW) {
        const sa = i32[row + E_SA];
        const cipher = sa >= 0 ? this.ciphers.get(sa) : undefined;
        if (!cipher || done?.includes(sa)) continue;
        (done ??= []).push(sa);
        const start = end;
        end = x.espUnprotectCounters(desc, n, sa, ks, end);
        if (end > start) cipher.encryptInPlace(this.core.u8.subarray(ks + start, ks + end));
      }
      return x.espUnprotectBatchKs(desc, n, ks);
    } finally {
      x.wipe(ks, end);
    }
  }

  /**
   * RFC 3948: classify the UDP payloads in the batch (or whole UDP datagrams when
   * `withHeader`), leaving ESP packets ready for unprotect(). See EspBatch.kind(i).
   */
  demuxUdp(batch: EspBatch, withHeader = false): number {
    batch.check(this);
    return this.abi.udpDemuxBatch(batch.desc, batch.length, withHeader ? 1 : 0);
  }

  /** Per-packet convenience: protect one payload, returning the ESP packet (a copy). */
  protectOne(sa: SaHandle, payload: Uint8Array, nextHeader = 41): Uint8Array {
    const b = this.scratchBatch(payload.length);
    b.addPayload(sa, payload, nextHeader);
    this.protect(b);
    try {
      return copyOut(b.output(0));
    } finally {
      b.clear();
    }
  }

  /** Per-packet convenience: unprotect one ESP packet; throws an EspDropError when dropped. */
  unprotectOne(packet: Uint8Array): { sa: SaHandle; payload: Uint8Array; nextHeader: number; sequence: bigint } {
    const b = this.scratchBatch(packet.length);
    b.addPacket(packet);
    this.unprotect(b);
    try {
      const payload = copyOut(b.output(0));
      return { sa: b.sa(0)!, payload, nextHeader: b.nextHeader(0), sequence: b.sequence(0) };
    } finally {
      b.clear();
    }
  }

  private one: EspBatch | undefined;
  private scratchBatch(len: number): EspBatch {
    if (!this.one || this.one.slotBytes < len + ESP_SLOT_HEADROOM + 300) {
      this.one?.destroy();
      this.one = new EspBatch(this, { packets: 1, slotBytes: Math.max(2048, len + ESP_SLOT_HEADROOM + 300) });
    }
    return this.one;
  }

  /** @internal */
  handleAt(i: number): SaHandle | undefined {
    return this.handles.get(i);
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Esp { sas: ${this.handles.size}/${this.capacity} }`;
  }

  /** JSON.stringify would otherwise walk into wasm memory (SA records hold key schedules). */
  toJSON(): object {
    return { sas: this.handles.size, capacity: this.capacity };
  }
}

interface SaLayout {
  flags: number;
  seq: number;
  replay: number;
  replayLen: number;
  pkts: number;
  octets: number;
  drops: number;
}
const layouts = new WeakMap<Esp, SaLayout>();
function saLayout(esp: Esp): SaLayout {
  let l = layouts.get(esp);
  if (!l) {
    const x = esp.core.x as unknown as Record<string, WebAssembly.Global>;
    const v = (k: string) => x[k].value as number;
    l = { flags: v("SA_FLAGS"), seq: v("SA_SEQ"), replay: v("SA_REPLAY"), replayLen: v("SA_REPLAY_LEN"), pkts: v("SA_PKTS"), octets: v("SA_OCTETS"), drops: v("SA_DROPS") };
    layouts.set(esp, l);
  }
  return l;
}

export interface EspBatchOptions {
  /** Packets per batch (default 64). */
  packets?: number;
  /** Bytes per packet slot, headroom included (default 2048). */
  slotBytes?: number;
}

/** Kinds of UDP payload (RFC 3948) after Esp.demuxUdp. */
export type UdpKind = "esp" | "ike" | "keepalive";

export class EspBatch {
  readonly capacity: number;
  readonly slotBytes: number;
  /** @internal */ readonly desc: number;
  private readonly esp: Esp;
  private readonly core: Core;
  private readonly slots: number;
  private count = 0;
  private destroyed = false;

  constructor(esp: Esp, options: EspBatchOptions = {}) {
    this.esp = esp;
    this.core = esp.core;
    this.capacity = u32("packets", options.packets ?? 64, 1, 1 << 16);
    this.slotBytes = (u32("slotBytes", options.slotBytes ?? 2048, 256, 1 << 16) + 15) & ~15;
    this.desc = this.core.alloc(this.capacity * ROW * 4);
    this.slots = this.core.alloc(this.capacity * this.slotBytes);
  }

  get length(): number {
    return this.count;
  }

  private next(): { i: number; row: number; slot: number } {
    if (this.destroyed) fail("ERR_DESTROYED", "this batch was destroyed");
    if (this.count >= this.capacity) fail("ERR_BATCH_FULL", `batch holds at most ${this.capacity} packets`);
    const i = this.count;
    return { i, row: (this.desc >> 2) + i * ROW, slot: this.slots + i * this.slotBytes };
  }

  /** Queue a payload (an IPv6 packet, next header 41) for protect() on an outbound SA. */
  addPayload(sa: SaHandle, payload: Uint8Array, nextHeader = 41): number {
    if (!(payload instanceof Uint8Array)) fail("ERR_INPUT_TYPE", "payload must be a Uint8Array");
    u32("nextHeader", nextHeader, 0, 255);
    if (payload.length > this.slotBytes - ESP_SLOT_HEADROOM - 255 - 2 - 16) {
      fail("ERR_BATCH_FULL", `payload of ${payload.length} bytes does not fit a ${this.slotBytes}-byte slot`);
    }
    const s = this.next();
    const i32 = this.core.i32;
    i32[s.row + E_SA] = sa?.index ?? -1;
    i32[s.row + E_BUF] = s.slot;
    i32[s.row + E_OFF] = ESP_SLOT_HEADROOM;
    i32[s.row + E_LEN] = payload.length;
    i32[s.row + E_CAP] = this.slotBytes;
    i32[s.row + E_NH] = nextHeader;
    i32[s.row + E_RESULT] = NOT_RUN;
    this.core.u8.set(payload, s.slot + ESP_SLOT_HEADROOM);
    this.count++;
    return s.i;
  }

  /** Does a packet of `length` bytes fit one slot (addPacket's limit: slotBytes − headroom)? */
  fits(length: number): boolean {
    return length <= this.slotBytes - ESP_SLOT_HEADROOM;
  }

  /** Queue a received ESP packet (starting at the SPI) or UDP payload/datagram for unprotect(). */
  addPacket(packet: Uint8Array): number {
    if (!(packet instanceof Uint8Array)) fail("ERR_INPUT_TYPE", "packet must be a Uint8Array");
    if (!this.fits(packet.length)) {
      fail("ERR_BATCH_FULL", `packet of ${packet.length} bytes does not fit a ${this.slotBytes}-byte slot`);
    }
    const s = this.next();
    const i32 = this.core.i32;
    i32[s.row + E_SA] = -1;
    i32[s.row + E_BUF] = s.slot;
    i32[s.row + E_OFF] = ESP_SLOT_HEADROOM;
    i32[s.row + E_LEN] = packet.length;
    i32[s.row + E_CAP] = this.slotBytes;
    i32[s.row + E_NH] = 0;
    i32[s.row + E_RESULT] = NOT_RUN;
    this.core.u8.set(packet, s.slot + ESP_SLOT_HEADROOM);
    this.count++;
    return s.i;
  }

  private row(i: number): number {
    if (this.destroyed) fail("ERR_DESTROYED", "this batch was destroyed");
    if (!Number.isInteger(i) || i < 0 || i >= this.count) fail("ERR_INPUT_TYPE", `packet index ${String(i)} is not in 0..${this.count - 1}`);
    return (this.desc >> 2) + i * ROW;
  }

  /** @internal a field of packet i's descriptor row. */
  protected rowI32(i: number, field: number): number {
    return this.core.i32[this.row(i) + field];
  }

  /** ≥ 0: output length; < 0: dropped (see reason(i)). */
  result(i: number): number {
    return this.core.i32[this.row(i) + E_RESULT];
  }

  /** Why packet i was dropped, or "none". */
  reason(i: number): DropReason {
    const r = this.result(i);
    if (r === NOT_RUN) fail("ERR_INPUT_TYPE", `packet ${i} has not been processed`);
    return r >= 0 ? "none" : (DROP_REASONS[-r] ?? "none");
  }

  error(i: number): EspDropError | undefined {
    const reason = this.reason(i);
    return reason === "none" ? undefined : new EspDropError(reason);
  }

  /** Output of packet i as a view into wasm memory: the ESP packet, or the decrypted payload. */
  output(i: number): Uint8Array {
    const row = this.row(i);
    const r = this.result(i);
    if (r < 0) throw this.error(i) ?? new IpsecError("ERR_INPUT_TYPE", `packet ${i} has not been processed`);
    const i32 = this.core.i32;
    const start = i32[row + E_BUF] + i32[row + E_OUT_OFF];
    return this.core.u8.subarray(start, start + r);
  }

  /** Next header of an unprotected packet (41 for IPv6). */
  nextHeader(i: number): number {
    return this.core.i32[this.row(i) + E_NH];
  }

  /** The SA an inbound packet matched (by SPI), if any. */
  sa(i: number): SaHandle | undefined {
    const idx = this.core.i32[this.row(i) + E_SA];
    return idx < 0 ? undefined : this.esp.handleAt(idx);
  }

  /** The 64-bit sequence number the packet carried (inferred high bits with ESN). */
  sequence(i: number): bigint {
    const row = this.row(i);
    const i32 = this.core.i32;
    return (BigInt(i32[row + E_SEQ_HI] >>> 0) << 32n) | BigInt(i32[row + E_SEQ_LO] >>> 0);
  }

  /** After demuxUdp: what packet i is. */
  kind(i: number): UdpKind {
    const nh = this.core.i32[this.row(i) + E_NH];
    return nh === 500 ? "ike" : nh === 255 ? "keepalive" : "esp";
  }

  /** After demuxUdp: the IKE message (non-ESP marker removed) or ESP packet, as a view. */
  payload(i: number): Uint8Array {
    const row = this.row(i);
    const i32 = this.core.i32;
    const start = i32[row + E_BUF] + i32[row + E_OFF];
    return this.core.u8.subarray(start, start + i32[row + E_LEN]);
  }

  clear(): void {
    if (this.destroyed) fail("ERR_DESTROYED", "this batch was destroyed");
    this.core.x.wipe(this.slots, this.count * this.slotBytes);
    this.count = 0;
  }

  private ks = 0;
  /** @internal Room for every packet's keystream ("node" engine), allocated on first use. */
  keystreamArea(): number {
    if (this.ks === 0) this.ks = this.core.alloc(this.capacity * (this.slotBytes + KS_SLACK));
    return this.ks;
  }

  destroy(): void {
    if (this.destroyed) return;
    if (this.ks !== 0) this.core.free(this.ks, this.capacity * (this.slotBytes + KS_SLACK));
    this.core.free(this.desc, this.capacity * ROW * 4);
    this.core.free(this.slots, this.capacity * this.slotBytes);
    this.destroyed = true;
  }

  /** @internal */
  check(esp: Esp): void {
    if (this.destroyed) fail("ERR_DESTROYED", "this batch was destroyed");
    if (esp !== this.esp) fail("ERR_ENGINE", "batch belongs to another Esp");
  }
}

/** Create an ESP engine with its own wasm instance and an SA table for `capacity` SAs. */
export async function createEsp(options: EspOptions = {}): Promise<Esp> {
  const capacity = u32("capacity", options.capacity ?? 1024, 1, 1 << 22);
  return new Esp(await newCore(), capacity, options.engine ?? "wasm");
}
