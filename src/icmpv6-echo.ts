/**
 * An ICMPv6 echo responder (RFC 4443 §4.2) for tunnel endpoints that have no kernel stack
 * behind them (the loopback demo, tests, a dataplane answering pings to its own addresses).
 */
const ICMPV6 = 58;
const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;

/** RFC 4443 §2.3: checksum over the IPv6 pseudo-header and the ICMPv6 message. */
export function icmpv6Checksum(p: Uint8Array): number {
  const len = p.length - 40;
  let s = 0;
  for (let i = 8; i < 40; i += 2) s += (p[i] << 8) | p[i + 1];
  s += (len >>> 16) + (len & 0xffff) + ICMPV6;
  for (let i = 40; i < p.length; i += 2) s += (p[i] << 8) | (p[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An echo request → its echo reply (addresses swapped), or undefined for anything else. */
export function echoReply(packet: Uint8Array, ours?: (dst: Uint8Array) => boolean): Uint8Array | undefined {
  if (packet.length < 48 || packet[0] >> 4 !== 6 || packet[6] !== ICMPV6 || packet[40] !== ECHO_REQUEST) return undefined;
  const plen = (packet[4] << 8) | packet[5];
  if (40 + plen > packet.length || plen < 8) return undefined;
  if (ours && !ours(packet.subarray(24, 40))) return undefined;
  const r = packet.slice(0, 40 + plen);
  r.set(packet.subarray(24, 40), 8);
  r.set(packet.subarray(8, 24), 24);
  r[7] = 64;
  r[40] = ECHO_REPLY;
  r[42] = r[43] = 0;
  const c = icmpv6Checksum(r);
  r[42] = c >> 8;
  r[43] = c & 0xff;
  return r;
}

/** An echo request from src to dst (16-byte addresses) with an identifier, sequence and payload. */
export function echoRequest(src: Uint8Array, dst: Uint8Array, id: number, seq: number, payload = new Uint8Array(56)): Uint8Array {
  const p = new Uint8Array(48 + payload.length);
  p.set([0x60, 0, 0, 0, (8 + payload.length) >> 8, (8 + payload.length) & 0xff, ICMPV6, 64]);
  p.set(src, 8);
  p.set(dst, 24);
  p.set([ECHO_REQUEST, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff], 40);
  p.set(payload, 48);
  const c = icmpv6Checksum(p);
  p[42] = c >> 8;
  p[43] = c & 0xff;
  return p;
}
