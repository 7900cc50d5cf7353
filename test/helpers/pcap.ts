/**
 * A tiny classic-pcap writer and reader (microsecond timestamps, little-endian), and an
 * outer IPv4 header builder, for handing packets to tshark and reading captures back.
 */

/** LINKTYPE_RAW: each record is an IPv4 or IPv6 packet with no link-layer header. */
export const LINKTYPE_RAW = 101;
/** LINKTYPE_IPV4: each record is an IPv4 packet. */
export const LINKTYPE_IPV4 = 228;

export function writePcap(packets: readonly Uint8Array[], linktype = LINKTYPE_RAW): Uint8Array {
  const total = 24 + packets.reduce((n, p) => n + 16 + p.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true); // thiszone
  dv.setUint32(12, 0, true); // sigfigs
  dv.setUint32(16, 65535, true); // snaplen
  dv.setUint32(20, linktype, true);
  let o = 24;
  packets.forEach((p, i) => {
    dv.setUint32(o, 1_700_000_000 + i, true);
    dv.setUint32(o + 4, 0, true);
    dv.setUint32(o + 8, p.length, true);
    dv.setUint32(o + 12, p.length, true);
    out.set(p, o + 16);
    o += 16 + p.length;
  });
  return out;
}

export function readPcap(file: Uint8Array): { linktype: number; packets: Uint8Array[] } {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = dv.getUint32(0, true);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`not a classic pcap file (magic 0x${magic.toString(16)})`);
  const linktype = dv.getUint32(20, le);
  const packets: Uint8Array[] = [];
  let o = 24;
  while (o + 16 <= file.length) {
    const incl = dv.getUint32(o + 8, le);
    packets.push(file.slice(o + 16, o + 16 + incl));
    o += 16 + incl;
  }
  return { linktype, packets };
}

function ipv4Bytes(a: string): number[] {
  const parts = a.split(".").map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`bad IPv4 address ${a}`);
  return parts;
}

/** RFC 1071 one's-complement checksum of `b`. */
export function inetChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An outer IPv4 header (20 bytes, DF, TTL 64, correct checksum) in front of `payload`. */
export function ipv4Wrap(src: string, dst: string, protocol: number, payload: Uint8Array, id = 0): Uint8Array {
  const out = new Uint8Array(20 + payload.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x45;
  dv.setUint16(2, out.length);
  dv.setUint16(4, id & 0xffff);
  dv.setUint16(6, 0x4000);
  out[8] = 64;
  out[9] = protocol;
  out.set(ipv4Bytes(src), 12);
  out.set(ipv4Bytes(dst), 16);
  dv.setUint16(10, inetChecksum(out.subarray(0, 20)));
  out.set(payload, 20);
  return out;
}

/** Parse an outer IPv4 header (no options expected but handled), checking version, length and checksum. */
export function ipv4Unwrap(pkt: Uint8Array): { protocol: number; src: string; dst: string; payload: Uint8Array } {
  if (pkt.length < 20 || pkt[0] >> 4 !== 4) throw new Error("not an IPv4 packet");
  const ihl = (pkt[0] & 15) * 4;
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  const total = dv.getUint16(2);
  if (ihl < 20 || total < ihl || total > pkt.length) throw new Error(`bad IPv4 lengths (ihl ${ihl}, total ${total}, have ${pkt.length})`);
  if (inetChecksum(pkt.subarray(0, ihl)) !== 0) throw new Error("bad IPv4 header checksum");
  const addr = (o: number) => Array.from(pkt.subarray(o, o + 4)).join(".");
  return { protocol: pkt[9], src: addr(12), dst: addr(16), payload: pkt.subarray(ihl, total) };
}
