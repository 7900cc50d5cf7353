/**
 * The reference model for src/reassembly.ts: the straightforward Map-based reassembler it
 * replaced (same rules, same results), kept as an oracle for the differential property test in
 * test/reassembly.test.ts. It allocates freely; that is why the product no longer uses it.
 */
import { ipv4HeaderChecksum, type ReassemblyDrop, type ReassemblyOptions, type ReassemblyResult } from "../../src/reassembly.js";

interface Frag {
  start: number; // byte offset in the payload
  end: number; // exclusive
  data: Uint8Array;
}

interface Datagram {
  header: Uint8Array | undefined; // header of the fragment at offset 0
  frags: Frag[]; // sorted by start, non-overlapping
  total: number; // payload length once the last fragment arrived, else -1
  bytes: number;
  born: number;
}

const MAX_DATAGRAM = 65535;

export class ReferenceReassembler {
  readonly maxBytes: number;
  readonly maxDatagrams: number;
  readonly timeoutMs: number;
  readonly maxFragments: number;
  private readonly table = new Map<string, Datagram>();
  private held = 0;
  /** Drops by reason since creation. */
  readonly drops: Record<ReassemblyDrop, number> = { overlap: 0, "too-big": 0, "bad-fragment": 0, "too-many-fragments": 0, memory: 0, timeout: 0 };

  constructor(options: ReassemblyOptions = {}) {
    this.maxBytes = options.maxBytes ?? 4 << 20;
    this.maxDatagrams = options.maxDatagrams ?? 1024;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxFragments = options.maxFragments ?? 128;
  }

  /** Datagrams in progress. */
  get pending(): number {
    return this.table.size;
  }

  /** Bytes of fragment data held. */
  get bytesHeld(): number {
    return this.held;
  }

  private drop(key: string | undefined, reason: ReassemblyDrop): ReassemblyResult {
    if (key !== undefined) {
      const d = this.table.get(key);
      if (d) {
        this.held -= d.bytes;
        this.table.delete(key);
      }
    }
    this.drops[reason]++;
    return { status: "dropped", reason };
  }

  /**
   * Drop datagrams older than the timeout. Returns how many were dropped. The table is kept in
   * arrival order (a Map keeps insertion order and a datagram is never re-inserted), so the
   * scan stops at the first datagram still young: a fragment flood costs O(1) per fragment.
   */
  expire(now: number): number {
    let n = 0;
    for (const [k, d] of this.table) {
      if (now - d.born < this.timeoutMs) break;
      this.drop(k, "timeout");
      n++;
    }
    return n;
  }

  /**
   * Add one fragment: a whole IPv4 packet whose header the caller has validated (version,
   * IHL, total length within the buffer, checksum) and that has MF set or a non-zero offset.
   */
  push(packet: Uint8Array, now: number): ReassemblyResult {
    this.expire(now);
    const ihl = (packet[0] & 0x0f) * 4;
    const totalLen = (packet[2] << 8) | packet[3];
    if (packet.length < 20 || ihl < 20 || totalLen < ihl || totalLen > packet.length) return this.drop(undefined, "bad-fragment");
    const flagsOff = (packet[6] << 8) | packet[7];
    const more = (flagsOff & 0x2000) !== 0;
    const start = (flagsOff & 0x1fff) * 8;
    const data = packet.subarray(ihl, totalLen);
    const end = start + data.length;
    const key = `${packet[12]}.${packet[13]}.${packet[14]}.${packet[15]}>${packet[16]}.${packet[17]}.${packet[18]}.${packet[19]}/${packet[9]}#${(packet[4] << 8) | packet[5]}`;
    if (!more && start === 0) return this.drop(undefined, "bad-fragment"); // not a fragment
    if ((more && data.length % 8 !== 0) || (more && data.length === 0)) return this.drop(key, "bad-fragment");
    if (ihl + end > MAX_DATAGRAM) return this.drop(key, "too-big");
    let d = this.table.get(key);
    if (!d) {
      if (this.table.size >= this.maxDatagrams) return this.drop(undefined, "memory");
      d = { header: undefined, frags: [], total: -1, bytes: 0, born: now };
    }
    if (!more) {
      if (d.total >= 0 && d.total !== end) return this.drop(key, "overlap");
      if (d.frags.some((f) => f.end > end)) return this.drop(key, "overlap");
    } else if (d.total >= 0 && end > d.total) {
      return this.drop(key, "overlap");
    }
    // Find the insertion point; refuse overlaps, ignore exact duplicates.
    let i = 0;
    while (i < d.frags.length && d.frags[i].start < start) i++;
    const prev = d.frags[i - 1];
    const next = d.frags[i];
    if (next && next.start === start && next.end === end && bytesEqual(next.data, data)) return { status: "pending" };
    if ((prev && prev.end > start) || (next && next.start < end)) return this.drop(key, "overlap");
    if (d.frags.length >= this.maxFragments) return this.drop(key, "too-many-fragments");
    if (this.held + data.length > this.maxBytes) {
      if (!this.table.has(key)) return this.drop(undefined, "memory");
      return this.drop(key, "memory");
    }
    d.frags.splice(i, 0, { start, end, data: data.slice() });
    d.bytes += data.length;
    this.held += data.length;
    if (start === 0) d.header = packet.slice(0, ihl);
    if (!more) d.total = end;
    this.table.set(key, d);
    return this.complete(key, d);
  }

  private complete(key: string, d: Datagram): ReassemblyResult {
    if (d.total < 0 || !d.header) return { status: "pending" };
    let at = 0;
    for (const f of d.frags) {
      if (f.start !== at) return { status: "pending" };
      at = f.end;
    }
    if (at !== d.total) return { status: "pending" };
    const ihl = d.header.length;
    const out = new Uint8Array(ihl + d.total);
    out.set(d.header);
    for (const f of d.frags) out.set(f.data, ihl + f.start);
    // RFC 791: the reassembled header: total length, no MF, offset 0, new checksum.
    out[2] = out.length >> 8;
    out[3] = out.length & 0xff;
    out[6] &= 0x40; // keep DF only
    out[7] = 0;
    out[10] = out[11] = 0;
    const c = ipv4HeaderChecksum(out.subarray(0, ihl));
    out[10] = c >> 8;
    out[11] = c & 0xff;
    this.held -= d.bytes;
    this.table.delete(key);
    return { status: "complete", packet: out };
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
