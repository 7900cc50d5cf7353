/**
 * Reassembly of outer IPv4 fragments (RFC 791 §3.2, RFC 815), bounded and hostile-input
 * safe. The inbound pipeline hands every fragment of a tunnel packet here (the wasm hot path
 * validates the header first and marks fragments); complete datagrams go back through the
 * pipeline. Rules, as a demanding receiver applies them:
 *
 *   1. datagrams are keyed by (source, destination, protocol, identification) (RFC 791);
 *   2. overlapping fragments are refused and the whole datagram dropped (as RFC 5722 does for
 *      IPv6; overlaps are the classic IDS-evasion and teardrop vector); an exact duplicate of
 *      a fragment already held is ignored;
 *   3. a datagram may not exceed 65,535 bytes; fragments other than the last must carry a
 *      multiple of 8 bytes (RFC 791);
 *   4. memory is capped (bytes held and datagrams in progress): a fragment that does not fit
 *      is dropped, the oldest datagrams are not evicted by newcomers (an attacker cannot
 *      flush honest traffic), and datagrams time out (30 s by default, as Linux's ipfrag_time;
 *      RFC 791 suggests 15 s as a lower bound).
 *
 * Memory. Nothing is allocated per fragment once warm: datagrams in progress live in pooled
 * records (their fragment bytes appended to a buffer that doubles when needed, so a record's
 * buffer is at most twice what it holds, and at least MIN_BUFFER), found through an
 * open-addressing hash table whose hash is keyed with random per-instance seeds (a peer that
 * does not know them cannot aim fragments at one probe chain; the worst case is bounded by
 * maxDatagrams anyway). A JS Map was used before: every datagram's insert and delete rehashed
 * the Map's backing store, and for a long-lived Map V8 allocates that store in old space, which
 * grew RSS by ~5 MiB per million packets until the next full GC (test/soak.test.ts).
 * Released records go back to a pool of at most POOL records, keeping buffers up to
 * POOL_BUFFER bytes.
 */
import { fail } from "./errors.js";

export type ReassemblyDrop = "overlap" | "too-big" | "bad-fragment" | "too-many-fragments" | "memory" | "timeout";

export interface ReassemblyOptions {
  /** Most bytes of fragment data held at once (default 4 MiB). */
  maxBytes?: number;
  /** Most datagrams in progress (default 1024). */
  maxDatagrams?: number;
  /** Milliseconds before an incomplete datagram is dropped (default 30,000). */
  timeoutMs?: number;
  /** Most fragments of one datagram (default 128; a 1280-byte path needs about 52 for 64 KiB). */
  maxFragments?: number;
}

export type ReassemblyResult =
  | { status: "complete"; packet: Uint8Array }
  | { status: "pending" }
  | { status: "dropped"; reason: ReassemblyDrop };

const MAX_DATAGRAM = 65535;
/** Smallest fragment buffer of a datagram record. */
const MIN_BUFFER = 2048;
/** Most records kept for reuse, and the largest buffer one keeps when released. */
const POOL = 64;
const POOL_BUFFER = 16384;
/** Most fragment slots a record starts with (grows by doubling up to maxFragments), and keeps in the pool. */
const MIN_FRAGS = 8;
const POOL_FRAGS = 128;

const PENDING: ReassemblyResult = Object.freeze({ status: "pending" });
const DROPPED = Object.fromEntries(
  (["overlap", "too-big", "bad-fragment", "too-many-fragments", "memory", "timeout"] as const).map((r) => [r, Object.freeze({ status: "dropped", reason: r })]),
) as Record<ReassemblyDrop, ReassemblyResult>;

/** One datagram in progress. Fragments are kept sorted by start, their bytes appended to `buf`. */
class Datagram {
  src = 0;
  dst = 0;
  /** protocol << 16 | identification */
  pid = 0;
  born = 0;
  /** Payload length once the last fragment arrived, else -1. */
  total = -1;
  /** Fragment payload bytes held (what maxBytes counts). */
  bytes = 0;
  count = 0;
  /** IPv4 header length of the fragment at offset 0, 0 until it arrives. */
  hdrLen = 0;
  readonly header = new Uint8Array(60);
  starts = new Int32Array(MIN_FRAGS);
  ends = new Int32Array(MIN_FRAGS);
  /** Where each fragment's bytes are in buf. */
  at = new Int32Array(MIN_FRAGS);
  buf = new Uint8Array(0);
  used = 0;
  /** Slot in the hash table, -1 while not inserted. */
  slot = -1;
  older: Datagram | null = null;
  newer: Datagram | null = null;
}

export class Reassembler {
  readonly maxBytes: number;
  readonly maxDatagrams: number;
  readonly timeoutMs: number;
  readonly maxFragments: number;
  /** Open-addressing table (linear probing, load ≤ 1/2), power-of-two size, grown as needed. */
  private table: (Datagram | null)[] = new Array<Datagram | null>(16).fill(null);
  private count = 0;
  /** Arrival order (a datagram is never re-inserted): oldest first, for expiry. */
  private oldest: Datagram | null = null;
  private newest: Datagram | null = null;
  private readonly pool: Datagram[] = [];
  private readonly seeds: Uint32Array;
  /** Output buffer of acceptView(); grown to the largest datagram completed. */
  private out = new Uint8Array(0);
  private held = 0;
  /** Drops by reason since creation. */
  readonly drops: Record<ReassemblyDrop, number> = { overlap: 0, "too-big": 0, "bad-fragment": 0, "too-many-fragments": 0, memory: 0, timeout: 0 };

  constructor(options: ReassemblyOptions = {}) {
    const int = (name: string, v: number | undefined, d: number, lo: number, hi: number) => {
      const x = v ?? d;
      if (!Number.isInteger(x) || x < lo || x > hi) fail("ERR_CONFIG", `reassembly ${name} must be an integer from ${lo} to ${hi}`);
      return x;
    };
    this.maxBytes = int("maxBytes", options.maxBytes, 4 << 20, 65535, 1 << 30);
    this.maxDatagrams = int("maxDatagrams", options.maxDatagrams, 1024, 1, 1 << 20);
    this.timeoutMs = int("timeoutMs", options.timeoutMs, 30_000, 1, 3_600_000);
    this.maxFragments = int("maxFragments", options.maxFragments, 128, 2, 8192);
    this.seeds = new Uint32Array(3);
    const c = (globalThis as { crypto?: { getRandomValues?(a: Uint32Array): Uint32Array } }).crypto;
    if (c?.getRandomValues) c.getRandomValues(this.seeds);
    else for (let i = 0; i < 3; i++) this.seeds[i] = (Math.random() * 2 ** 32) >>> 0;
  }

  /** Datagrams in progress. */
  get pending(): number {
    return this.count;
  }

  /** Bytes of fragment data held. */
  get bytesHeld(): number {
    return this.held;
  }

  /**
   * Drop datagrams older than the timeout. Returns how many were dropped. Datagrams are kept
   * in arrival order, so the scan stops at the first one still young: a fragment flood costs
   * O(1) per fragment.
   */
  expire(now: number): number {
    let n = 0;
    while (this.oldest && now - this.oldest.born >= this.timeoutMs) {
      this.release(this.oldest);
      this.drops.timeout++;
      n++;
    }
    return n;
  }

  /**
   * Add one fragment: a whole IPv4 packet whose header the caller has validated (version,
   * IHL, total length within the buffer, checksum) and that has MF set or a non-zero offset.
   * A completed datagram is returned as a new array.
   */
  push(packet: Uint8Array, now: number): ReassemblyResult {
    const r = this.accept(packet, now);
    if (r === 1) return { status: "complete", packet: this.out.slice(0, this.outLen) };
    return r === 0 ? PENDING : DROPPED[this.lastDrop];
  }

  /**
   * As push(), without allocating: the completed datagram, as a view that is valid until the
   * next call on this Reassembler, or null (pending or dropped; drops are counted in `drops`).
   */
  pushView(packet: Uint8Array, now: number): Uint8Array | null {
    return this.accept(packet, now) === 1 ? this.out.subarray(0, this.outLen) : null;
  }

  private outLen = 0;
  private lastDrop: ReassemblyDrop = "bad-fragment";

  /** Count a drop, releasing `d` (and its fragments) when given. */
  private drop(d: Datagram | null, reason: ReassemblyDrop): -1 {
    if (d) this.release(d);
    this.drops[reason]++;
    this.lastDrop = reason;
    return -1;
  }

  /** Drop a fragment of `found` (released) or of the not yet inserted record `fresh` (pooled again). */
  private reject(found: Datagram | null, fresh: Datagram | null, reason: ReassemblyDrop): -1 {
    if (fresh) this.recycle(fresh);
    return this.drop(found, reason);
  }

  /** 1: complete (in out[0, outLen)), 0: pending, -1: dropped (lastDrop). */
  private accept(packet: Uint8Array, now: number): number {
    this.expire(now);
    const ihl = (packet[0] & 0x0f) * 4;
    const totalLen = (packet[2] << 8) | packet[3];
    if (packet.length < 20 || ihl < 20 || totalLen < ihl || totalLen > packet.length) return this.drop(null, "bad-fragment");
    const flagsOff = (packet[6] << 8) | packet[7];
    const more = (flagsOff & 0x2000) !== 0;
    const start = (flagsOff & 0x1fff) * 8;
    const len = totalLen - ihl;
    const end = start + len;
    const src = ((packet[12] << 24) | (packet[13] << 16) | (packet[14] << 8) | packet[15]) >>> 0;
    const dst = ((packet[16] << 24) | (packet[17] << 16) | (packet[18] << 8) | packet[19]) >>> 0;
    const pid = (packet[9] << 16) | (packet[4] << 8) | packet[5];
    if (!more && start === 0) return this.drop(null, "bad-fragment"); // not a fragment
    const found = this.find(src, dst, pid);
    if ((more && len % 8 !== 0) || (more && len === 0)) return this.drop(found, "bad-fragment");
    if (ihl + end > MAX_DATAGRAM) return this.drop(found, "too-big");
    let d = found;
    if (!d) {
      if (this.count >= this.maxDatagrams) return this.drop(null, "memory");
      // A fresh record, inserted only once this fragment is accepted.
      d = this.pool.pop() ?? new Datagram();
      d.src = src;
      d.dst = dst;
      d.pid = pid;
      d.born = now;
    }
    // A rejection of a datagram not yet inserted only returns its record to the pool.
    const fresh = found ? null : d;
    if (!more) {
      if (d.total >= 0 && d.total !== end) return this.reject(found, fresh, "overlap");
      if (d.count > 0 && d.ends[d.count - 1] > end) return this.reject(found, fresh, "overlap"); // ends ascend with starts
    } else if (d.total >= 0 && end > d.total) {
      return this.reject(found, fresh, "overlap");
    }
    // Find the insertion point; refuse overlaps, ignore exact duplicates.
    let i = 0;
    while (i < d.count && d.starts[i] < start) i++;
    if (i < d.count && d.starts[i] === start && d.ends[i] === end && this.sameBytes(d, i, packet, ihl, len)) return 0;
    if ((i > 0 && d.ends[i - 1] > start) || (i < d.count && d.starts[i] < end)) return this.reject(found, fresh, "overlap");
    if (d.count >= this.maxFragments) return this.reject(found, fresh, "too-many-fragments");
    if (this.held + len > this.maxBytes) return this.reject(found, fresh, "memory");
    // Accepted: store it.
    if (d.count === d.starts.length) this.growFrags(d);
    if (d.used + len > d.buf.length) this.growBuffer(d, d.used + len);
    d.starts.copyWithin(i + 1, i, d.count);
    d.ends.copyWithin(i + 1, i, d.count);
    d.at.copyWithin(i + 1, i, d.count);
    d.starts[i] = start;
    d.ends[i] = end;
    d.at[i] = d.used;
    d.buf.set(packet.subarray(ihl, totalLen), d.used);
    d.used += len;
    d.count++;
    d.bytes += len;
    this.held += len;
    if (start === 0) {
      d.header.set(packet.subarray(0, ihl));
      d.hdrLen = ihl;
    }
    if (!more) d.total = end;
    if (fresh) this.insert(fresh);
    return this.complete(d);
  }

  private complete(d: Datagram): number {
    if (d.total < 0 || d.hdrLen === 0) return 0;
    let at = 0;
    for (let i = 0; i < d.count; i++) {
      if (d.starts[i] !== at) return 0;
      at = d.ends[i];
    }
    if (at !== d.total) return 0;
    const ihl = d.hdrLen;
    const n = ihl + d.total;
    // The first fragment's header may be longer than the one the size check saw (RFC 791: 65,535 in all).
    if (n > MAX_DATAGRAM) return this.drop(d, "too-big");
    if (this.out.length < n) this.out = new Uint8Array(Math.max(n, Math.min(MAX_DATAGRAM, this.out.length * 2)));
    const out = this.out;
    out.set(d.header.subarray(0, ihl));
    for (let i = 0; i < d.count; i++) out.set(d.buf.subarray(d.at[i], d.at[i] + d.ends[i] - d.starts[i]), ihl + d.starts[i]);
    // RFC 791: the reassembled header: total length, no MF, offset 0, new checksum.
    out[2] = n >> 8;
    out[3] = n & 0xff;
    out[6] &= 0x40; // keep DF only
    out[7] = 0;
    out[10] = out[11] = 0;
    const c = ipv4HeaderChecksum(out.subarray(0, ihl));
    out[10] = c >> 8;
    out[11] = c & 0xff;
    this.outLen = n;
    this.release(d);
    return 1;
  }

  private sameBytes(d: Datagram, i: number, packet: Uint8Array, ihl: number, len: number): boolean {
    const b = d.buf;
    const at = d.at[i];
    for (let k = 0; k < len; k++) if (b[at + k] !== packet[ihl + k]) return false;
    return true;
  }

  private growFrags(d: Datagram): void {
    const n = Math.min(this.maxFragments, d.starts.length * 2);
    for (const f of ["starts", "ends", "at"] as const) {
      const a = new Int32Array(n);
      a.set(d[f]);
      d[f] = a;
    }
  }

  private growBuffer(d: Datagram, need: number): void {
    let n = Math.max(MIN_BUFFER, d.buf.length);
    while (n < need) n *= 2;
    const b = new Uint8Array(n);
    b.set(d.buf.subarray(0, d.used));
    d.buf = b;
  }

  private hash(src: number, dst: number, pid: number): number {
    const s = this.seeds;
    let h = Math.imul(src ^ s[0], 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dst ^ s[1], 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ pid ^ s[2], 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private find(src: number, dst: number, pid: number): Datagram | null {
    const t = this.table;
    const mask = t.length - 1;
    for (let j = this.hash(src, dst, pid) & mask; ; j = (j + 1) & mask) {
      const d = t[j];
      if (d === null) return null;
      if (d.src === src && d.dst === dst && d.pid === pid) return d;
    }
  }

  private insert(d: Datagram): void {
    if ((this.count + 1) * 2 > this.table.length) this.resize(this.table.length * 2);
    this.place(d);
    this.count++;
    d.older = this.newest;
    d.newer = null;
    if (this.newest) this.newest.newer = d;
    else this.oldest = d;
    this.newest = d;
  }

  private place(d: Datagram): void {
    const t = this.table;
    const mask = t.length - 1;
    let j = this.hash(d.src, d.dst, d.pid) & mask;
    while (t[j] !== null) j = (j + 1) & mask;
    t[j] = d;
    d.slot = j;
  }

  private resize(size: number): void {
    const old = this.table;
    this.table = new Array<Datagram | null>(size).fill(null);
    for (const d of old) if (d) this.place(d);
  }

  /** Remove an inserted datagram (backward-shift deletion keeps probe chains whole) and recycle its record. */
  private release(d: Datagram): void {
    const t = this.table;
    const mask = t.length - 1;
    let hole = d.slot;
    t[hole] = null;
    for (let j = (hole + 1) & mask; t[j] !== null; j = (j + 1) & mask) {
      const e = t[j]!;
      const home = this.hash(e.src, e.dst, e.pid) & mask;
      // e moves into the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        t[hole] = e;
        e.slot = hole;
        t[j] = null;
        hole = j;
      }
    }
    this.count--;
    this.held -= d.bytes;
    if (d.older) d.older.newer = d.newer;
    else this.oldest = d.newer;
    if (d.newer) d.newer.older = d.older;
    else this.newest = d.older;
    this.recycle(d);
  }

  /** Reset a record (its bytes wiped: they may be plaintext of another layer) and pool it. */
  private recycle(d: Datagram): void {
    d.buf.fill(0, 0, d.used);
    d.header.fill(0);
    d.slot = -1;
    d.older = d.newer = null;
    d.total = -1;
    d.bytes = d.count = d.hdrLen = d.used = 0;
    if (this.pool.length >= POOL) return;
    // Pooled records keep small buffers only: at most POOL × (POOL_BUFFER + 3 × 4 × POOL_FRAGS) bytes.
    if (d.buf.length > POOL_BUFFER) d.buf = new Uint8Array(0);
    if (d.starts.length > POOL_FRAGS) {
      d.starts = new Int32Array(MIN_FRAGS);
      d.ends = new Int32Array(MIN_FRAGS);
      d.at = new Int32Array(MIN_FRAGS);
    }
    this.pool.push(d);
  }
}

/**
 * What the wasm pipeline checks of an outer IPv4 header before a fragment goes to reassembly
 * (assembly/wire/ipv4.ts ipv4Check): version 4, IHL ≥ 5 within the buffer, total length from the
 * header length to the buffer's, header checksum correct.
 */
export function ipv4HeaderValid(p: Uint8Array): boolean {
  if (p.length < 20 || p[0] >> 4 !== 4) return false;
  const ihl = (p[0] & 0x0f) * 4;
  const total = (p[2] << 8) | p[3];
  return ihl >= 20 && ihl <= p.length && total >= ihl && total <= p.length && ipv4HeaderChecksum(p.subarray(0, ihl)) === 0;
}

/** RFC 1071 one's-complement sum over the header (checksum field zeroed by the caller). */
export function ipv4HeaderChecksum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += (h[i] << 8) | (h[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
