// Wire formats (RFC 791, RFC 1071, RFC 8200) and the decapsulator's address checks
// (RFC 4213 §3.6, RFC 4891 §2), in smoltcp's three shapes (STYLE habit 12): deconstruct
// (bytes → fields) from real or independently built bytes, construct (fields → bytes into a
// 0xa5-filled buffer, checksum verified here in JS), and check_len (one byte short fails with
// the exact code). Every bad input asserts its exact code and an unchanged buffer.
import { beforeAll, describe, expect, it } from "vitest";
import { newCore, type Core } from "../src/core/wasm.js";
import { Prng } from "./helpers/prng.js";

let core: Core;
let X: any;
beforeAll(async () => {
  core = await newCore();
  X = core.x as any;
});
const rng = new Prng(0x0791);
const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((h) => parseInt(h, 16)));

/** Copy bytes into wasm memory (with slack after them); returns ptr and a checker that they are unchanged. */
function put(bytes: Uint8Array, slack = 64) {
  const ptr = core.alloc(bytes.length + slack);
  core.u8.fill(0x5a, ptr, ptr + bytes.length + slack);
  core.u8.set(bytes, ptr);
  const before = core.u8.slice(ptr, ptr + bytes.length + slack);
  return {
    ptr,
    unchanged: () => expect(core.u8.slice(ptr, ptr + bytes.length + slack)).toEqual(before),
    free: () => core.x.heap_free(ptr),
  };
}

// ── An independent IPv4/IPv6 builder (JS only) ───────────────────────────────────────────
/** RFC 1071, written the plain way: big-endian 16-bit words, end-around carry. */
function jsChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
interface V4 { ihl?: number; tos?: number; total?: number; id?: number; flags?: number; frag?: number; ttl?: number; proto?: number; src?: number; dst?: number; options?: Uint8Array; payload?: Uint8Array }
function buildV4(f: V4 = {}): Uint8Array {
  const opts = f.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const payload = f.payload ?? new Uint8Array(0);
  const total = f.total ?? hl + payload.length;
  const b = new Uint8Array(hl + payload.length);
  const dv = new DataView(b.buffer);
  b[0] = 0x40 | (f.ihl ?? hl / 4);
  b[1] = f.tos ?? 0;
  dv.setUint16(2, total);
  dv.setUint16(4, f.id ?? 0);
  dv.setUint16(6, ((f.flags ?? 0) << 13) | (f.frag ?? 0));
  b[8] = f.ttl ?? 64;
  b[9] = f.proto ?? 41;
  dv.setUint32(12, f.src ?? 0xc0000201);
  dv.setUint32(16, f.dst ?? 0xc6336402);
  b.set(opts, 20);
  dv.setUint16(10, jsChecksum(b.subarray(0, hl)));
  b.set(payload, hl);
  return b;
}
function addr6(s: string): Uint8Array {
  // Minimal RFC 4291 §2.2 text form parser (with ::, no embedded IPv4 except in the last 32 bits).
  let tail: number[] = [];
  const m = s.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (m) {
    const q = m[2].split(".").map(Number);
    tail = [(q[0] << 8) | q[1], (q[2] << 8) | q[3]];
    s = m[1] + (m[1].endsWith("::") ? "" : "0");
    if (!m[1].endsWith("::")) s = m[1].slice(0, -1);
  }
  const [a, b] = s.split("::");
  const head = a ? a.split(":").filter((x) => x !== "").map((x) => parseInt(x, 16)) : [];
  const rest = b !== undefined ? (b ? b.split(":").filter((x) => x !== "").map((x) => parseInt(x, 16)) : []) : [];
  const words = b !== undefined ? [...head, ...new Array(8 - head.length - rest.length - tail.length).fill(0), ...rest, ...tail] : [...head, ...tail];
  expect(words.length).toBe(8);
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 255; });
  return out;
}
interface V6 { tc?: number; flow?: number; plen?: number; nh?: number; hlim?: number; src?: Uint8Array; dst?: Uint8Array; payload?: Uint8Array }
function buildV6(f: V6 = {}): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const b = new Uint8Array(40 + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ((6 << 28) | ((f.tc ?? 0) << 20) | (f.flow ?? 0)) >>> 0);
  dv.setUint16(4, f.plen ?? payload.length);
  b[6] = f.nh ?? 59;
  b[7] = f.hlim ?? 64;
  b.set(f.src ?? addr6("2001:db8::1"), 8);
  b.set(f.dst ?? addr6("2001:db8::2"), 24);
  b.set(payload, 40);
  return b;
}

describe("RFC 1071 Internet checksum", () => {
  it("§3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d", () => {
    const p = put(hex("0001f203f4f5f6f7"));
    expect(X.internetChecksum(p.ptr, 8)).toBe(0x220d);
    p.unchanged();
  });
  it("agrees with a plain JS RFC 1071 on random data of every length 0..300, at every alignment", () => {
    for (let len = 0; len <= 300; len++) {
      const d = rng.bytes(len);
      const p = put(d, 16 + (len % 7));
      const q = p.ptr + (len % 7);
      core.u8.copyWithin(q, p.ptr, p.ptr + len);
      expect(X.internetChecksum(q, len)).toBe(jsChecksum(core.u8.slice(q, q + len)));
      p.free();
    }
  });
});

describe("IPv4 (RFC 791) deconstruct", () => {
  // The header of a UDP datagram 192.168.0.1 → 192.168.0.199, the checksum example used in
  // many texts (total length 0x73, DF, TTL 64, checksum b861).
  const WIKI = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
  it("a captured header: fields and accessors", () => {
    const pkt = new Uint8Array(0x73);
    pkt.set(WIKI);
    const p = put(pkt);
    expect(X.ipv4Check(p.ptr, pkt.length)).toBe(0);
    expect(X.ipv4HeaderLen(p.ptr)).toBe(20);
    expect(X.ipv4PayloadOffset(p.ptr)).toBe(20);
    expect(X.ipv4TotalLen(p.ptr)).toBe(0x73);
    expect(X.ipv4PayloadLen(p.ptr)).toBe(0x73 - 20);
    expect(X.ipv4Proto(p.ptr)).toBe(17);
    expect(X.ipv4Ttl(p.ptr)).toBe(64);
    expect(X.ipv4Df(p.ptr)).toBe(1);
    expect(X.ipv4Mf(p.ptr)).toBe(0);
    expect(X.ipv4Flags(p.ptr)).toBe(2);
    expect(X.ipv4FragOffset(p.ptr)).toBe(0);
    expect(X.ipv4IsFragment(p.ptr)).toBe(0);
    expect(X.ipv4Ident(p.ptr)).toBe(0);
    expect(X.ipv4Src(p.ptr) >>> 0).toBe(0xc0a80001);
    expect(X.ipv4Dst(p.ptr) >>> 0).toBe(0xc0a800c7);
    expect(X.ipv4Dscp(p.ptr)).toBe(0);
    expect(X.ipv4Ecn(p.ptr)).toBe(0);
    expect(X.internetChecksum(p.ptr, 20)).toBe(0);
    p.unchanged();
  });
  it("independently built headers: options, fragments, TOS, trailing link padding", () => {
    for (let i = 0; i < 300; i++) {
      const f: V4 = {
        options: rng.bytes(4 * rng.int(0, 10)), tos: rng.int(0, 255), id: rng.int(0, 0xffff), flags: rng.int(0, 7),
        frag: rng.int(0, 0x1fff), ttl: rng.int(1, 255), proto: rng.int(0, 255), src: rng.u32(), dst: rng.u32(), payload: rng.bytes(rng.int(0, 100)),
      };
      const b = buildV4(f);
      const pad = rng.int(0, 30);
      const buf = new Uint8Array(b.length + pad);
      buf.set(b);
      const p = put(buf);
      expect(X.ipv4Check(p.ptr, buf.length)).toBe(0);
      expect(X.ipv4HeaderLen(p.ptr)).toBe(20 + f.options!.length);
      expect(X.ipv4TotalLen(p.ptr)).toBe(b.length);
      expect(X.ipv4PayloadLen(p.ptr)).toBe(f.payload!.length);
      expect(X.ipv4Dscp(p.ptr)).toBe(f.tos! >> 2);
      expect(X.ipv4Ecn(p.ptr)).toBe(f.tos! & 3);
      expect(X.ipv4Ident(p.ptr)).toBe(f.id);
      expect(X.ipv4Flags(p.ptr)).toBe(f.flags);
      expect(X.ipv4Df(p.ptr)).toBe((f.flags! >> 1) & 1);
      expect(X.ipv4Mf(p.ptr)).toBe(f.flags! & 1);
      expect(X.ipv4FragOffset(p.ptr)).toBe(f.frag! * 8);
      expect(X.ipv4IsFragment(p.ptr)).toBe((f.flags! & 1) || f.frag ? 1 : 0);
      expect(X.ipv4Ttl(p.ptr)).toBe(f.ttl);
      expect(X.ipv4Proto(p.ptr)).toBe(f.proto);
      expect(X.ipv4Src(p.ptr) >>> 0).toBe(f.src);
      expect(X.ipv4Dst(p.ptr) >>> 0).toBe(f.dst);
      p.unchanged();
      p.free();
    }
  });
});

describe("IPv4 check_len (smoltcp order) and bad input", () => {
  const base = () => buildV4({ options: hex("01010100"), payload: rng.bytes(16) }); // IHL 6, total 40
  const cases: [string, number, () => [Uint8Array, number]][] = [
    ["empty buffer", -11, () => [new Uint8Array(0), 0]],
    ["19 bytes: one short of the fixed header", -11, () => { const b = base(); return [b, 19]; }],
    ["version 6", -12, () => { const b = base(); b[0] = 0x66; return [b, b.length]; }],
    ["version 0", -12, () => { const b = base(); b[0] = 0x06; return [b, b.length]; }],
    ["IHL 4", -13, () => { const b = base(); b[0] = 0x44; return [b, b.length]; }],
    ["IHL 0", -13, () => { const b = base(); b[0] = 0x40; return [b, b.length]; }],
    ["IHL 6 with 23 bytes: header one byte short", -14, () => { const b = base(); return [b, 23]; }],
    ["IHL 15 in a 40-byte buffer", -14, () => { const b = base(); b[0] = 0x4f; return [b, b.length]; }],
    ["total length 23 < IHL*4 = 24", -15, () => buildV4Total(23)],
    ["total length 0", -15, () => buildV4Total(0)],
    ["buffer one byte short of total length", -16, () => { const b = base(); return [b, b.length - 1]; }],
    ["total length 65535 in a 40-byte buffer", -16, () => buildV4Total(65535)],
    ["checksum off by one", -17, () => { const b = base(); b[11] ^= 1; return [b, b.length]; }],
    ["an option byte flipped", -17, () => { const b = base(); b[21] ^= 0x80; return [b, b.length]; }],
  ];
  function buildV4Total(total: number): [Uint8Array, number] {
    const b = buildV4({ options: hex("01010100"), payload: new Uint8Array(16), total });
    return [b, b.length];
  }
  it("code names", () => {
    expect([X.IPV4_ERR_RUNT, X.IPV4_ERR_BAD_VERSION, X.IPV4_ERR_BAD_IHL, X.IPV4_ERR_HDR_TRUNC, X.IPV4_ERR_TOTAL_LT_HDR,
      X.IPV4_ERR_TOTAL_TRUNC, X.IPV4_ERR_BAD_CHECKSUM, X.IPV4_ERR_TOO_BIG, X.IPV4_ERR_BAD_TTL, X.IPV4_ERR_BAD_PROTO].map((g) => g.value))
      .toEqual([-11, -12, -13, -14, -15, -16, -17, -18, -19, -20]);
  });
  it.each(cases)("%s → %i, buffer unchanged", (_n, code, mk) => {
    const [b, len] = mk();
    const p = put(b);
    expect(X.ipv4Check(p.ptr, len)).toBe(code);
    p.unchanged();
    p.free();
  });
  it("exact length passes, every shorter length fails with the code of its rule", () => {
    const b = base(); // IHL 6 (24 bytes), total 40
    const p = put(b);
    expect(X.ipv4Check(p.ptr, 40)).toBe(0);
    for (let len = 0; len < 40; len++) expect(X.ipv4Check(p.ptr, len)).toBe(len < 20 ? -11 : len < 24 ? -14 : -16);
    p.unchanged();
  });
  it("every single-bit flip in the header is caught (checksum or an earlier rule)", () => {
    const b = base();
    for (let i = 0; i < 24 * 8; i++) {
      const c = b.slice();
      c[i >> 3] ^= 0x80 >> (i & 7);
      const p = put(c);
      expect(X.ipv4Check(p.ptr, c.length)).toBeLessThan(0);
      p.free();
    }
  });
});

describe("IPv4 construct: ipv4Encap (RFC 4213 §3.5, RFC 6040 normal mode)", () => {
  it.each([
    [0, 0, 1, 41, 64, 0x1234, 0],
    [0xb8, 0, 0, 50, 255, 0xffff, 1400],
    [0x01, 1, 1, 41, 1, 0, 1280],
    [0x02, 2, 1, 17, 64, 7, 65515],
    [0xff, 3, 0, 41, 128, 0xabcd, 20],
  ])("inner TC %i → ECN %i; df %i proto %i ttl %i id %i payload %i", (tc, ecn, df, proto, ttl, id, plen) => {
    const buf = core.alloc(64);
    core.u8.fill(0xa5, buf, buf + 64);
    const src = 0xc0000201, dst = 0xcb007102;
    expect(X.ipv4Encap(buf, plen, src, dst, proto, ttl, df, tc, id)).toBe(plen + 20);
    const got = core.u8.slice(buf, buf + 64);
    // DSCP 0 (RFC 4213 §3.5), ECN copied (RFC 6040 §4.1), DF as asked, no MF/offset.
    const want = buildV4({ tos: ecn, total: plen + 20, id, flags: df ? 2 : 0, ttl, proto, src, dst });
    expect(got.slice(0, 20)).toEqual(want);
    expect(jsChecksum(got.slice(0, 20))).toBe(0);
    expect(got.slice(20).every((v) => v === 0xa5)).toBe(true);
    // And our own validator reads back what was written (buffer big enough for the total).
    const big = core.alloc(plen + 20);
    core.u8.set(got.slice(0, 20), big);
    expect(X.ipv4Check(big, plen + 20)).toBe(0);
    expect(X.ipv4Ecn(big)).toBe(ecn);
    expect(X.ipv4Df(big)).toBe(df);
    core.x.heap_free(big);
    core.x.heap_free(buf);
  });
  it.each([
    ["payload 65516: total would exceed 65535", 65516, 64, 41, -18],
    ["negative payload", -1, 64, 41, -18],
    ["TTL 0 (RFC 1122 §3.2.1.7)", 0, 0, 41, -19],
    ["TTL 256", 0, 256, 41, -19],
    ["protocol 256", 0, 64, 256, -20],
    ["protocol -1", 0, 64, -1, -20],
  ])("%s → %i, nothing written", (_n, plen, ttl, proto, code) => {
    const buf = core.alloc(32);
    core.u8.fill(0xa5, buf, buf + 32);
    expect(X.ipv4Encap(buf, plen, 1, 2, proto, ttl, 0, 0, 0)).toBe(code);
    expect(core.u8.slice(buf, buf + 32).every((v) => v === 0xa5)).toBe(true);
    core.x.heap_free(buf);
  });
  it("default TTL is the Assigned Numbers value 64 (RFC 4213 §3.3)", () => {
    expect(X.IPV4_DEFAULT_TTL.value).toBe(64);
  });
});

describe("IPv6 fixed header (RFC 8200 §3)", () => {
  it("deconstruct: a 6in4 inner packet built independently", () => {
    for (let i = 0; i < 200; i++) {
      const f: V6 = { tc: rng.int(0, 255), flow: rng.int(0, 0xfffff), nh: rng.int(0, 255), hlim: rng.int(0, 255), src: rng.bytes(16), dst: rng.bytes(16), payload: rng.bytes(rng.int(0, 80)) };
      const b = buildV6(f);
      const buf = new Uint8Array(b.length + rng.int(0, 8)); // excess bytes are allowed
      buf.set(b);
      const p = put(buf);
      expect(X.ipv6Check(p.ptr, buf.length)).toBe(0);
      expect(X.ipv6TrafficClass(p.ptr)).toBe(f.tc);
      expect(X.ipv6Ecn(p.ptr)).toBe(f.tc! & 3);
      expect(X.ipv6FlowLabel(p.ptr)).toBe(f.flow);
      expect(X.ipv6PayloadLen(p.ptr)).toBe(f.payload!.length);
      expect(X.ipv6TotalLen(p.ptr)).toBe(40 + f.payload!.length);
      expect(X.ipv6NextHeader(p.ptr)).toBe(f.nh);
      expect(X.ipv6HopLimit(p.ptr)).toBe(f.hlim);
      expect(core.u8.slice(X.ipv6Src(p.ptr), X.ipv6Src(p.ptr) + 16)).toEqual(f.src);
      expect(core.u8.slice(X.ipv6Dst(p.ptr), X.ipv6Dst(p.ptr) + 16)).toEqual(f.dst);
      p.unchanged();
      p.free();
    }
  });
  it("a captured ICMPv6 echo request (2001:db8::1 → 2001:db8::2, hop limit 64)", () => {
    const pkt = hex("6000000000103a40 20010db8000000000000000000000001 20010db8000000000000000000000002 8000 a7c0 1234 0001 6162636465666768");
    const p = put(pkt);
    expect(X.ipv6Check(p.ptr, pkt.length)).toBe(0);
    expect(X.ipv6PayloadLen(p.ptr)).toBe(16);
    expect(X.ipv6NextHeader(p.ptr)).toBe(58);
    expect(X.ipv6UpperLayer(p.ptr, pkt.length)).toBe(40);
    expect(X.ipv6UpperProto()).toBe(58);
    p.unchanged();
  });
  it("check_len: runt, version, one byte short of the payload", () => {
    expect([X.IPV6_ERR_RUNT, X.IPV6_ERR_BAD_VERSION, X.IPV6_ERR_PAYLOAD_TRUNC].map((g) => g.value)).toEqual([-21, -22, -23]);
    const b = buildV6({ payload: rng.bytes(24) });
    const p = put(b);
    expect(X.ipv6Check(p.ptr, 64)).toBe(0);
    for (let len = 0; len < 64; len++) expect(X.ipv6Check(p.ptr, len)).toBe(len < 40 ? -21 : -23);
    p.unchanged();
    for (const v of [0x40, 0x00, 0x70, 0xf0]) {
      const c = b.slice();
      c[0] = v | (c[0] & 0x0f);
      const q = put(c);
      expect(X.ipv6Check(q.ptr, c.length)).toBe(-22);
      q.unchanged();
      q.free();
    }
  });
});

// ── Extension headers ────────────────────────────────────────────────────────────────────
type Ext = { type: number; body?: number; fragOffset?: number; more?: boolean };
/** Build a chain: returns the packet, the header start offsets and the upper-layer offset. */
function chain(exts: Ext[], upper: number, upperBytes = 8) {
  const parts: Uint8Array[] = [];
  const starts: number[] = [];
  let off = 40;
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i];
    const next = i + 1 < exts.length ? exts[i + 1].type : upper;
    let h: Uint8Array;
    if (e.type === 44) {
      h = new Uint8Array(8);
      h[0] = next;
      const v = ((e.fragOffset ?? 0) << 3) | (e.more ? 1 : 0);
      h[2] = v >> 8; h[3] = v & 255;
      h.set([0xde, 0xad, 0xbe, 0xef], 4);
    } else if (e.type === 51) {
      const words = e.body ?? 4; // (payload len + 2) 32-bit words
      h = rng.bytes(words * 4);
      h[0] = next; h[1] = words - 2;
    } else {
      const units = e.body ?? 0;
      h = rng.bytes((units + 1) * 8);
      h[0] = next; h[1] = units;
    }
    starts.push(off);
    parts.push(h);
    off += h.length;
  }
  const payload = new Uint8Array(off - 40 + upperBytes);
  let p = 0;
  for (const h of parts) { payload.set(h, p); p += h.length; }
  payload.set(rng.bytes(upperBytes), p);
  const pkt = buildV6({ nh: exts.length ? exts[0].type : upper, payload });
  return { pkt, starts, upperOff: off };
}

describe("IPv6 extension header walk (RFC 8200 §4)", () => {
  it("code names", () => {
    expect([X.EXT_ERR_TRUNC_HDR, X.EXT_ERR_TRUNC_LEN, X.EXT_ERR_HBH_NOT_FIRST, X.EXT_ERR_TOO_MANY, X.EXT_ERR_BAD_AH_LEN, X.EXT_ERR_BAD_PACKET].map((g) => g.value))
      .toEqual([-31, -32, -33, -34, -35, -36]);
  });
  const chains: [string, Ext[], number][] = [
    ["no extension headers, TCP", [], 6],
    ["hop-by-hop → UDP", [{ type: 0 }], 17],
    ["hop-by-hop (24 bytes) → routing → dest opts → ICMPv6", [{ type: 0, body: 2 }, { type: 43, body: 1 }, { type: 60 }], 58],
    ["atomic fragment → TCP", [{ type: 44 }], 6],
    ["first fragment (M=1) → dest opts → UDP", [{ type: 44, more: true }, { type: 60, body: 3 }], 17],
    ["AH (24 bytes) → TCP", [{ type: 51, body: 6 }], 6],
    ["dest opts → AH → ESP: the walk stops at ESP", [{ type: 60 }, { type: 51, body: 4 }], 50],
    ["routing → no next header", [{ type: 43, body: 2 }], 59],
    ["mobility, HIP, Shim6 → IPv6-in-IPv6", [{ type: 135, body: 1 }, { type: 139 }, { type: 140, body: 2 }], 41],
    ["every type once: HBH, DO, RH, FH, AH, DO → ICMPv6", [{ type: 0 }, { type: 60, body: 1 }, { type: 43 }, { type: 44 }, { type: 51 }, { type: 60 }], 58],
    ["16 destination options headers (the cap)", Array.from({ length: 16 }, () => ({ type: 60 })), 6],
  ];
  it.each(chains)("%s", (_n, exts, upper) => {
    const { pkt, upperOff } = chain(exts, upper);
    const p = put(pkt);
    expect(X.ipv6Check(p.ptr, pkt.length)).toBe(0);
    expect(X.ipv6UpperLayer(p.ptr, pkt.length)).toBe(upperOff);
    expect(X.ipv6UpperProto()).toBe(upper);
    p.unchanged();
    p.free();
  });
  it.each(chains)("%s, truncated at every offset: exact code, buffer unchanged", (_n, exts, upper) => {
    const { pkt, starts, upperOff } = chain(exts, upper);
    const lens = exts.map((_, i) => (i + 1 < starts.length ? starts[i + 1] : upperOff) - starts[i]);
    for (let cut = 40; cut <= pkt.length; cut++) {
      const c = pkt.slice(0, cut);
      c[4] = (cut - 40) >> 8; c[5] = (cut - 40) & 255; // payload length says cut
      const p = put(c);
      let want: number;
      if (cut >= upperOff) want = upperOff;
      else {
        const i = starts.findIndex((s, k) => cut >= s && cut < s + lens[k]);
        want = cut - starts[i] < 8 ? -31 : -32;
      }
      expect(X.ipv6UpperLayer(p.ptr, c.length), `cut ${cut}`).toBe(want);
      expect(X.ipv6UpperProto()).toBe(want >= 0 ? upper : -1);
      // A buffer longer than the payload length changes nothing: the walk is bounded by the header's length.
      p.unchanged();
      p.free();
    }
  });
  it("walk bounded by payload length, not by the buffer", () => {
    const { pkt } = chain([{ type: 60, body: 2 }], 6);
    const c = pkt.slice();
    c[4] = 0; c[5] = 16; // 16 of the 24 bytes of the dest opts header
    const p = put(c);
    expect(X.ipv6UpperLayer(p.ptr, c.length)).toBe(-32);
    p.unchanged();
  });
  it("hop-by-hop anywhere but first → EXT_ERR_HBH_NOT_FIRST (RFC 8200 §4.1)", () => {
    for (const exts of [[{ type: 60 }, { type: 0 }], [{ type: 0 }, { type: 0 }], [{ type: 44 }, { type: 43 }, { type: 0 }]] as Ext[][]) {
      const { pkt } = chain(exts, 6);
      const p = put(pkt);
      expect(X.ipv6UpperLayer(p.ptr, pkt.length)).toBe(-33);
      p.unchanged();
      p.free();
    }
  });
  it("17 extension headers → EXT_ERR_TOO_MANY", () => {
    const { pkt } = chain(Array.from({ length: 17 }, () => ({ type: 60 })), 6);
    const p = put(pkt);
    expect(X.ipv6UpperLayer(p.ptr, pkt.length)).toBe(-34);
    p.unchanged();
  });
  it("AH whose length is not a multiple of 8 → EXT_ERR_BAD_AH_LEN (RFC 4302 §2.2)", () => {
    for (const words of [3, 5, 7, 257]) {
      const { pkt } = chain([{ type: 51, body: words }], 6);
      const p = put(pkt);
      expect(X.ipv6UpperLayer(p.ptr, pkt.length)).toBe(-35);
      p.unchanged();
      p.free();
    }
  });
  it("a non-first fragment stops the walk at the fragment header (proto 44)", () => {
    const { pkt, starts } = chain([{ type: 60 }, { type: 44, fragOffset: 181, more: true }], 6);
    const p = put(pkt);
    expect(X.ipv6UpperLayer(p.ptr, pkt.length)).toBe(starts[1]);
    expect(X.ipv6UpperProto()).toBe(44);
    expect(X.ipv6FragHeaderOffset()).toBe(starts[1]);
    p.unchanged();
  });
  it("a buffer shorter than the header or its payload length → EXT_ERR_BAD_PACKET", () => {
    const { pkt } = chain([{ type: 60 }], 6);
    const p = put(pkt);
    expect(X.ipv6UpperLayer(p.ptr, 39)).toBe(-36);
    expect(X.ipv6UpperLayer(p.ptr, pkt.length - 1)).toBe(-36);
    p.unchanged();
  });
});

describe("Decapsulator checks (RFC 4213 §3.6, RFC 4891 §2)", () => {
  it("code names", () => {
    expect([X.SRC_ERR_UNSPECIFIED, X.SRC_ERR_LOOPBACK, X.SRC_ERR_MULTICAST, X.SRC_ERR_V4_MAPPED, X.SRC_ERR_V4_COMPAT, X.SRC_ERR_OUTER_SRC].map((g) => g.value))
      .toEqual([-41, -42, -43, -44, -45, -46]);
  });
  const table: [string, number][] = [
    ["::", -41],
    ["::1", -42],
    ["::2", -45],
    ["::0.0.1.0", -45],
    ["::192.0.2.1", -45],
    ["::ffff:ffff", -45],
    ["::1:0:0", 0], // bits 64..95 = 0x00000001: outside both /96s
    ["::fffe:0:0", 0],
    ["::ffff:0:0", -44],
    ["::ffff:192.0.2.1", -44],
    ["::ffff:ffff:ffff", -44],
    ["::1:ffff:0:0", 0], // 0:0:0:1:ffff:: is not ::ffff:0:0/96
    ["::ffff:0:0:0", 0], // RFC 2765 IPv4-translated, not mapped
    ["0:0:0:1::", 0],
    ["ff00::", -43],
    ["ff02::1", -43],
    ["ff0e::1", -43],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", -43],
    ["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0],
    ["fe80::1", 0],
    ["febf:ffff::1", 0],
    ["fc00::1", 0],
    ["2001:db8::1", 0],
    ["2002:c000:201::1", 0],
    ["64:ff9b::192.0.2.1", 0],
    ["100::", 0],
    ["8000::", 0],
  ];
  it.each(table)("ipv6SourceCheck(%s) → %i", (a, code) => {
    const b = addr6(a);
    const p = put(b);
    expect(X.ipv6SourceCheck(p.ptr)).toBe(code);
    p.unchanged();
    p.free();
  });
  it("ipv4SourceCheck: the outer source must be the configured remote endpoint", () => {
    const pkt = buildV4({ src: 0xc6336401, payload: new Uint8Array(40) });
    const p = put(pkt);
    expect(X.ipv4SourceCheck(p.ptr, 0xc6336401)).toBe(0);
    expect(X.ipv4SourceCheck(p.ptr, 0xc6336402)).toBe(-46);
    expect(X.ipv4SourceCheck(p.ptr, 0x016433c6)).toBe(-46); // byte-swapped endpoint is not equal
    p.unchanged();
  });
});
