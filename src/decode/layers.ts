/**
 * Wire formats the decoder shows, one parser per header, each pushing a `Layer` with its
 * fields and its place in the bytes (source buffer, offset, length):
 *
 *   ipv4 (RFC 791) · udp (RFC 768) · udpencap (RFC 3948 §2.2 non-ESP marker, §2.3 keepalive)
 *   · esp header (RFC 4303 §2) · ipv6 (RFC 8200 §3) with its extension headers (§4.3–4.6:
 *   ipv6.hopopts, ipv6.routing, ipv6.fraghdr, ipv6.dstopts) · icmpv6 (RFC 4443) · tcp (RFC 9293)
 *   · icmp (RFC 792) · data.
 *
 * Field byte spans for hex highlighting come from `fieldSpans(layer)`, computed on demand from
 * the layer's offset, so the hot path allocates nothing for them.
 */
import { formatIPv6 } from "../addr.js";
import { HEX } from "./linktypes.js";

/** Field values; byte strings (ESP iv and payload) are Uint8Array views, shown as hex in JSON. */
export type FieldValue = number | string | boolean | null | Uint8Array | readonly number[] | readonly FieldValue[] | { readonly [k: string]: FieldValue };

export interface Layer {
  /** ipv4, udp, udpencap, esp, ipv6, ipv6.hopopts, ipv6.routing, ipv6.fraghdr, ipv6.dstopts, icmpv6, tcp, icmp, ikev2, eth, sll, sll2, null, data */
  name: string;
  /** Index into DecodedPacket.sources: 0 = the frame; others = reassembled or decrypted bytes. */
  source: number;
  /** First byte of the layer in its source. */
  offset: number;
  /** Bytes of the layer (header and what it contains, as far as it is in the capture). */
  length: number;
  fields: { [k: string]: FieldValue };
  /** For esp: the source holding the decrypted plaintext (payload ‖ padding ‖ pad length ‖ next header). */
  innerSource?: number;
}

export interface Span {
  source: number;
  offset: number;
  length: number;
}

export const IPPROTO = { HOPOPTS: 0, ICMP: 1, TCP: 6, UDP: 17, IPV6: 41, ROUTING: 43, FRAGMENT: 44, ESP: 50, AH: 51, ICMPV6: 58, NONE: 59, DSTOPTS: 60 } as const;

/**
 * b[off..off+len) as a new view on the same memory: what subarray() returns, built at a
 * fraction of its cost (no species lookup); the decoder makes several per packet.
 */
export function view(b: Uint8Array, off: number, len: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + off, len);
}

const be16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const be32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/**
 * RFC 1071 sum of b[o..o+n) folded to 16 bits (not complemented), plus s. Long runs are summed
 * as 32-bit big-endian words (§2(C): any word size, the carries folded in at the end); since
 * 2^16 ≡ 1 mod 2^16−1, folding is the remainder mod 0xffff, with 0xffff standing for 0 when
 * the sum is not zero (the value the end-around carries give).
 */
export function sum16(b: Uint8Array, o: number, n: number, s = 0): number {
  let i = o;
  if (n >= 32) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const end4 = o + (n & ~3);
    for (; i < end4; i += 4) s += dv.getUint32(i); // < 2^46 for any IP packet: exact
  }
  const end = o + (n & ~1);
  for (; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (n & 1) s += b[o + n - 1] << 8;
  if (s <= 0xffff) return s;
  const r = s % 0xffff;
  return r === 0 ? 0xffff : r;
}

export interface Ipv4Header {
  headerLength: number;
  totalLength: number;
  protocol: number;
  src: string;
  dst: string;
  /** Fragment: MF set or offset ≠ 0. */
  fragment: boolean;
}

/** RFC 791 header; returns undefined (with an error layer field) if it is not a valid header. */
export function parseIpv4(b: Uint8Array, src: number, off: number, end: number, layers: Layer[]): Ipv4Header | string {
  if (end - off < 20) return "truncated";
  const v = b[off] >> 4;
  const ihl = (b[off] & 15) * 4;
  if (v !== 4) return "bad-ipv4";
  const total = be16(b, off + 2);
  const ff = be16(b, off + 6);
  const hdr: Ipv4Header = {
    headerLength: ihl,
    totalLength: total,
    protocol: b[off + 9],
    src: ipv4Text(b, off + 12),
    dst: ipv4Text(b, off + 16),
    fragment: (ff & 0x3fff) !== 0,
  };
  const layer: Layer = {
    name: "ipv4",
    source: src,
    offset: off,
    length: Math.min(total, end - off),
    fields: {
      version: 4,
      headerLength: ihl,
      dscp: b[off + 1] >> 2,
      ecn: b[off + 1] & 3,
      totalLength: total,
      id: be16(b, off + 4),
      df: (ff & 0x4000) !== 0,
      mf: (ff & 0x2000) !== 0,
      fragmentOffset: (ff & 0x1fff) * 8,
      ttl: b[off + 8],
      protocol: hdr.protocol,
      checksum: be16(b, off + 10),
      checksumOk: ihl >= 20 && off + ihl <= end ? sum16(b, off, ihl) === 0xffff : false,
      src: hdr.src,
      dst: hdr.dst,
    },
  };
  layers.push(layer);
  if (ihl < 20 || total < ihl) return "bad-ipv4";
  if (total > end - off) return "truncated";
  return hdr;
}

/** RFC 768 header. Returns the payload length or an error name. */
export function parseUdp(b: Uint8Array, src: number, off: number, end: number, layers: Layer[], pseudo?: PseudoHeader): number | string {
  if (end - off < 8) return "bad-udp";
  const len = be16(b, off + 4);
  const fields: Layer["fields"] = { srcPort: be16(b, off), dstPort: be16(b, off + 2), length: len, checksum: be16(b, off + 6) };
  layers.push({ name: "udp", source: src, offset: off, length: Math.min(len, end - off), fields });
  if (len < 8 || len > end - off) return "bad-udp";
  if (pseudo) fields.checksumOk = checksumOk(b, off, len, pseudo, IPPROTO.UDP, 6);
  return len - 8;
}

/** Source and destination of the enclosing IPv6 header (offsets in the same buffer). */
export interface PseudoHeader {
  buf: Uint8Array;
  src: number;
  dst: number;
}

/** RFC 8200 §8.1 upper-layer checksum over the IPv6 pseudo-header. */
function checksumOk(b: Uint8Array, off: number, len: number, ph: PseudoHeader, proto: number, at: number): boolean {
  let s = sum16(ph.buf, ph.src, 16);
  s = sum16(ph.buf, ph.dst, 16, s);
  s += (len >>> 16) + (len & 0xffff) + proto;
  s = sum16(b, off, len, s);
  // UDP over IPv6: a zero checksum is not allowed (RFC 8200 §8.1), so 0 never verifies.
  if (proto === IPPROTO.UDP && be16(b, off + at) === 0) return false;
  return s === 0xffff;
}

const ICMPV6_NAMES: Record<number, string> = {
  1: "Destination Unreachable",
  2: "Packet Too Big",
  3: "Time Exceeded",
  4: "Parameter Problem",
  128: "Echo (ping) request",
  129: "Echo (ping) reply",
  133: "Router Solicitation",
  134: "Router Advertisement",
  135: "Neighbor Solicitation",
  136: "Neighbor Advertisement",
  137: "Redirect",
  143: "Multicast Listener Report Message v2",
};

export function icmpv6TypeName(t: number): string {
  return ICMPV6_NAMES[t] ?? `Type ${t}`;
}

/** The IPv6 packet at b[off..end): header, extension headers, upper layer. Returns an error name or "". */
export function parseIpv6(b: Uint8Array, src: number, off: number, end: number, layers: Layer[]): string {
  if (end - off < 40) {
    layers.push({ name: "ipv6", source: src, offset: off, length: end - off, fields: { version: end > off ? b[off] >> 4 : 0 } });
    return "bad-ipv6";
  }
  const v = b[off] >> 4;
  const plen = be16(b, off + 4);
  let nh = b[off + 6];
  const fields: Layer["fields"] = {
    version: v,
    trafficClass: ((b[off] & 15) << 4) | (b[off + 1] >> 4),
    flowLabel: ((b[off + 1] & 15) << 16) | (b[off + 2] << 8) | b[off + 3],
    payloadLength: plen,
    nextHeader: nh,
    hopLimit: b[off + 7],
    src: ipv6Text(b, off + 8),
    dst: ipv6Text(b, off + 24),
  };
  layers.push({ name: "ipv6", source: src, offset: off, length: Math.min(40 + plen, end - off), fields });
  if (v !== 6) return "bad-ipv6";
  if (40 + plen > end - off) return "truncated";
  const stop = off + 40 + plen; // bytes past the payload length (ESP padding is trimmed already) are ignored
  const ph: PseudoHeader = { buf: b, src: off + 8, dst: off + 24 };
  let o = off + 40;
  let fragmented = false;
  // RFC 8200 §4.1: extension headers in a chain, each with next header and length.
  for (let hops = 0; hops < 16; hops++) {
    if (nh === IPPROTO.HOPOPTS || nh === IPPROTO.ROUTING || nh === IPPROTO.DSTOPTS || nh === IPPROTO.FRAGMENT) {
      if (stop - o < 8) return "bad-ipv6";
      const next = b[o];
      const len = nh === IPPROTO.FRAGMENT ? 8 : (b[o + 1] + 1) * 8;
      if (o + len > stop) return "bad-ipv6";
      const f: Layer["fields"] = { nextHeader: next, length: len };
      let name = "ipv6.hopopts";
      if (nh === IPPROTO.ROUTING) {
        name = "ipv6.routing";
        f.routingType = b[o + 2];
        f.segmentsLeft = b[o + 3];
      } else if (nh === IPPROTO.FRAGMENT) {
        name = "ipv6.fraghdr";
        const fo = be16(b, o + 2);
        f.fragmentOffset = fo & 0xfff8;
        f.more = (fo & 1) !== 0;
        f.id = be32(b, o + 4);
        fragmented = (fo & 0xfff9) !== 0;
      } else if (nh === IPPROTO.DSTOPTS) {
        name = "ipv6.dstopts";
      }
      layers.push({ name, source: src, offset: o, length: len, fields: f });
      nh = next;
      o += len;
      if (fragmented) break;
      continue;
    }
    break;
  }
  if (fragmented) {
    if (o < stop) layers.push({ name: "data", source: src, offset: o, length: stop - o, fields: { length: stop - o } });
    return "";
  }
  return parseUpper(b, src, o, stop, nh, layers, ph);
}

function parseUpper(b: Uint8Array, src: number, o: number, stop: number, nh: number, layers: Layer[], ph: PseudoHeader): string {
  switch (nh) {
    case IPPROTO.ICMPV6: {
      if (stop - o < 4) return "bad-icmpv6";
      const type = b[o];
      const f: Layer["fields"] = {
        type,
        code: b[o + 1],
        checksum: be16(b, o + 2),
        checksumOk: checksumOk(b, o, stop - o, ph, IPPROTO.ICMPV6, 2),
        typeName: icmpv6TypeName(type),
      };
      if ((type === 128 || type === 129) && stop - o >= 8) {
        f.id = be16(b, o + 4);
        f.seq = be16(b, o + 6);
        f.dataLength = stop - o - 8;
      } else if (type === 2 && stop - o >= 8) {
        f.mtu = be32(b, o + 4);
      }
      layers.push({ name: "icmpv6", source: src, offset: o, length: stop - o, fields: f });
      return "";
    }
    case IPPROTO.UDP: {
      const r = parseUdp(b, src, o, stop, layers, ph);
      if (typeof r === "string") return r;
      if (r > 0) layers.push({ name: "data", source: src, offset: o + 8, length: r, fields: { length: r } });
      return "";
    }
    case IPPROTO.TCP: {
      if (stop - o < 20) return "bad-tcp";
      const doff = (b[o + 12] >> 4) * 4;
      const flags = ((b[o + 12] & 1) << 8) | b[o + 13];
      const f: Layer["fields"] = {
        srcPort: be16(b, o),
        dstPort: be16(b, o + 2),
        seq: be32(b, o + 4),
        ack: be32(b, o + 8),
        headerLength: doff,
        flags,
        flagNames: tcpFlagNames(flags),
        window: be16(b, o + 14),
        checksum: be16(b, o + 16),
        checksumOk: checksumOk(b, o, stop - o, ph, IPPROTO.TCP, 16),
        urgentPointer: be16(b, o + 18),
        payloadLength: Math.max(0, stop - o - doff),
      };
      layers.push({ name: "tcp", source: src, offset: o, length: stop - o, fields: f });
      if (doff < 20 || doff > stop - o) return "bad-tcp";
      return "";
    }
    case IPPROTO.NONE:
      return "";
    default:
      if (stop > o) layers.push({ name: "data", source: src, offset: o, length: stop - o, fields: { length: stop - o, protocol: nh } });
      return "";
  }
}

const TCP_FLAGS = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE"];
function tcpFlagNames(f: number): string {
  let s = "";
  for (let i = 0; i < 9; i++) if (f & (1 << i)) s += (s ? "," : "") + TCP_FLAGS[i];
  return s;
}

/** RFC 792 ICMP (outer, IPv4). */
export function parseIcmp(b: Uint8Array, src: number, off: number, end: number, layers: Layer[]): string {
  if (end - off < 4) return "truncated";
  layers.push({ name: "icmp", source: src, offset: off, length: end - off, fields: { type: b[off], code: b[off + 1], checksum: be16(b, off + 2) } });
  return "";
}

// Hex text through one reused buffer of character codes and one TextDecoder call: no string
// concatenation per byte (the decoder hexes every decrypted payload for JSON output).
const HEX_CODES = new Uint16Array(256);
for (let i = 0; i < 256; i++) HEX_CODES[i] = HEX[i].charCodeAt(0) | (HEX[i].charCodeAt(1) << 8);
let hexBuf = new Uint16Array(1024);
const latin1 = new TextDecoder("latin1");

export function hex(b: Uint8Array, o = 0, n = b.length - o): string {
  if (n <= 0) return "";
  if (n < 16) {
    let s = "";
    for (let i = o; i < o + n; i++) s += HEX[b[i]];
    return s;
  }
  if (hexBuf.length < n) hexBuf = new Uint16Array(Math.max(n, hexBuf.length * 2));
  for (let i = 0; i < n; i++) hexBuf[i] = HEX_CODES[b[o + i]];
  // Little-endian u16 = the two characters in order (wasm and every JS engine we run on are LE).
  return latin1.decode(new Uint8Array(hexBuf.buffer, 0, 2 * n));
}

// Address text memos: tunnel traffic repeats a handful of addresses, so the RFC 5952 text of
// each is built once.
const v4Memo = new Map<number, string>();
export function ipv4Text(b: Uint8Array, o: number): string {
  const k = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  let s = v4Memo.get(k);
  if (s === undefined) {
    s = `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
    if (v4Memo.size > 4096) v4Memo.clear();
    v4Memo.set(k, s);
  }
  return s;
}

// A direct-mapped cache in front of the map: the last address seen in each of 64 slots,
// compared byte by byte (no key string to build for the addresses a capture repeats).
const V6_SLOTS = 64;
const v6Bytes = new Uint8Array(V6_SLOTS * 16);
const v6Text: (string | undefined)[] = new Array(V6_SLOTS).fill(undefined);
const v6Memo = new Map<string, string>();
export function ipv6Text(b: Uint8Array, o: number): string {
  const slot = (b[o + 15] ^ (b[o + 13] << 1) ^ (b[o + 11] << 2) ^ b[o + 7] ^ (b[o + 5] << 3)) & (V6_SLOTS - 1);
  const at = slot * 16;
  let same = v6Text[slot] !== undefined;
  for (let i = 15; same && i >= 0; i--) same = v6Bytes[at + i] === b[o + i];
  if (same) return v6Text[slot]!;
  const s = ipv6TextMemo(b, o);
  for (let i = 0; i < 16; i++) v6Bytes[at + i] = b[o + i];
  v6Text[slot] = s;
  return s;
}

function ipv6TextMemo(b: Uint8Array, o: number): string {
  // Key: the 16 bytes as 8 UTF-16 code units (cheap to build, exact).
  const k = String.fromCharCode(
    (b[o] << 8) | b[o + 1], (b[o + 2] << 8) | b[o + 3], (b[o + 4] << 8) | b[o + 5], (b[o + 6] << 8) | b[o + 7],
    (b[o + 8] << 8) | b[o + 9], (b[o + 10] << 8) | b[o + 11], (b[o + 12] << 8) | b[o + 13], (b[o + 14] << 8) | b[o + 15],
  );
  let s = v6Memo.get(k);
  if (s === undefined) {
    s = formatIPv6(b.subarray(o, o + 16));
    if (v6Memo.size > 4096) v6Memo.clear();
    v6Memo.set(k, s);
  }
  return s;
}

// ---- Field spans (for hex highlighting) ----

type SpanTable = Record<string, readonly [number, number]>;
/** Fixed fields: [offset from the layer's start, length in bytes]. */
const FIXED: Record<string, SpanTable> = {
  eth: { dst: [0, 6], src: [6, 6], type: [12, 2] },
  sll: { packetType: [0, 2], arphrd: [2, 2], address: [6, 8], protocol: [14, 2] },
  sll2: { protocol: [0, 2], ifindex: [4, 4], arphrd: [8, 2], packetType: [10, 1], address: [12, 8] },
  null: { family: [0, 4] },
  ipv4: {
    version: [0, 1], headerLength: [0, 1], dscp: [1, 1], ecn: [1, 1], totalLength: [2, 2], id: [4, 2], df: [6, 1], mf: [6, 1],
    fragmentOffset: [6, 2], ttl: [8, 1], protocol: [9, 1], checksum: [10, 2], checksumOk: [10, 2], src: [12, 4], dst: [16, 4],
  },
  udp: { srcPort: [0, 2], dstPort: [2, 2], length: [4, 2], checksum: [6, 2], checksumOk: [6, 2] },
  udpencap: { kind: [0, 4] },
  ipv6: {
    version: [0, 1], trafficClass: [0, 2], flowLabel: [1, 3], payloadLength: [4, 2], nextHeader: [6, 1], hopLimit: [7, 1],
    src: [8, 16], dst: [24, 16],
  },
  "ipv6.hopopts": { nextHeader: [0, 1], length: [1, 1] },
  "ipv6.dstopts": { nextHeader: [0, 1], length: [1, 1] },
  "ipv6.routing": { nextHeader: [0, 1], length: [1, 1], routingType: [2, 1], segmentsLeft: [3, 1] },
  "ipv6.fraghdr": { nextHeader: [0, 1], fragmentOffset: [2, 2], more: [3, 1], id: [4, 4] },
  icmpv6: { type: [0, 1], typeName: [0, 1], code: [1, 1], checksum: [2, 2], checksumOk: [2, 2], id: [4, 2], seq: [6, 2], mtu: [4, 4] },
  icmp: { type: [0, 1], code: [1, 1], checksum: [2, 2] },
  tcp: {
    srcPort: [0, 2], dstPort: [2, 2], seq: [4, 4], ack: [8, 4], headerLength: [12, 1], flags: [12, 2], flagNames: [12, 2],
    window: [14, 2], checksum: [16, 2], checksumOk: [16, 2], urgentPointer: [18, 2],
  },
  esp: { spi: [0, 4], seq: [4, 4], iv: [8, 8] },
  ikev2: {
    initiatorSpi: [0, 8], responderSpi: [8, 8], nextPayload: [16, 1], version: [17, 1], exchangeType: [18, 1], exchangeName: [18, 1],
    flags: [19, 1], messageId: [20, 4], length: [24, 4],
  },
};

/**
 * Where each field of a layer lies (source, offset, length), for highlighting in a hex view.
 * ESP: spi, seq, iv and icv lie in the frame (or reassembled) bytes; payload, padding,
 * padLength and nextHeader in the decrypted source (layer.innerSource).
 */
export function fieldSpans(layer: Layer): Record<string, Span> {
  const out: Record<string, Span> = {};
  const t = FIXED[layer.name];
  if (t) {
    for (const k of Object.keys(t)) {
      if (!(k in layer.fields)) continue;
      const [o, n] = t[k];
      out[k] = { source: layer.source, offset: layer.offset + o, length: Math.min(n, Math.max(0, layer.length - o)) };
    }
  }
  const f = layer.fields;
  if (layer.name === "esp") {
    const icvLen = typeof f.icvLength === "number" ? f.icvLength : 0;
    if (icvLen) out.icv = { source: layer.source, offset: layer.offset + layer.length - icvLen, length: icvLen };
    if (layer.innerSource !== undefined && typeof f.padLength === "number" && typeof f.payloadLength === "number") {
      const s = layer.innerSource;
      const pl = f.payloadLength;
      out.payload = { source: s, offset: 0, length: pl };
      out.padding = { source: s, offset: pl, length: f.padLength };
      out.padLength = { source: s, offset: pl + f.padLength, length: 1 };
      out.nextHeader = { source: s, offset: pl + f.padLength + 1, length: 1 };
    }
  }
  if (layer.name === "ikev2" && Array.isArray(f.payloads)) {
    (f.payloads as ReadonlyArray<{ [k: string]: FieldValue }>).forEach((p, i) => {
      if (typeof p.offset === "number" && typeof p.length === "number") out[`payloads.${i}`] = { source: layer.source, offset: p.offset, length: p.length };
    });
  }
  if (layer.name === "data") out.length = { source: layer.source, offset: layer.offset, length: layer.length };
  return out;
}
