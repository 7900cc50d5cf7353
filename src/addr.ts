/**
 * IP addresses and prefixes as the control plane handles them: IPv4 and IPv6 text forms
 * (RFC 4291 §2.2 input, RFC 5952 canonical output), 16/4-byte forms, and bigint values for
 * ranges (RFC 4301 §4.4.1.1 selectors are address ranges).
 */
import { fail } from "./errors.js";

export type Family = 4 | 6;

export interface IpAddr {
  family: Family;
  bytes: Uint8Array; // 4 or 16 bytes, network order
}

export interface IpPrefix extends IpAddr {
  length: number;
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function parseIPv4(s: string): Uint8Array | undefined {
  if (!V4.test(s)) return undefined;
  return Uint8Array.from(s.split(".").map(Number));
}

export function parseIPv6(s: string): Uint8Array | undefined {
  if (s.length < 2 || s.length > 45 || s.includes("%")) return undefined;
  let head = s;
  let v4tail: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    v4tail = parseIPv4(s.slice(lastColon + 1));
    if (!v4tail) return undefined;
    head = s.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = head.indexOf("::");
  if (dbl !== head.lastIndexOf("::")) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups = part.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const a = parse(head.slice(0, dbl));
    const b = parse(head.slice(dbl + 2));
    if (!a || !b || a.length + b.length > 7) return undefined;
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    const a = parse(head);
    if (!a || a.length !== 8) return undefined;
    groups = a;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (v4tail) out.set(v4tail, 12);
  return out;
}

/** Parse an IPv4 or IPv6 address in text form. */
export function parseIp(s: string): IpAddr | undefined {
  const v4 = parseIPv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(s);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/**
 * RFC 5952 text: lower case (§4.3), no leading zeros (§4.1), the longest run of two or more
 * zero groups as "::", the first on ties (§4.2), and IPv4-mapped addresses with a dotted
 * quad (§5).
 */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${formatIPv4(b.subarray(12))}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function formatIp(a: IpAddr): string {
  return a.family === 4 ? formatIPv4(a.bytes) : formatIPv6(a.bytes);
}

/** Parse "addr/len" (or a bare address as a host prefix). Host bits must be zero. */
export function parsePrefix(s: string): IpPrefix | undefined {
  const slash = s.indexOf("/");
  const a = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!a) return undefined;
  const max = a.family === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const t = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(t)) return undefined;
    length = Number(t);
    if (length > max) return undefined;
  }
  if (toBig(a.bytes) & hostMask(a.family, length)) return undefined;
  return { ...a, length };
}

export function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

export function fromBig(v: bigint, family: Family): Uint8Array {
  const n = family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function hostMask(family: Family, length: number): bigint {
  const bits = BigInt(family === 4 ? 32 : 128);
  return (1n << (bits - BigInt(length))) - 1n;
}

/** An inclusive address range [start, end] of one family. */
export interface AddrRange {
  family: Family;
  start: bigint;
  end: bigint;
}

export function prefixRange(p: IpPrefix): AddrRange {
  const start = toBig(p.bytes);
  return { family: p.family, start, end: start | hostMask(p.family, p.length) };
}

export function hostRange(a: IpAddr): AddrRange {
  const v = toBig(a.bytes);
  return { family: a.family, start: v, end: v };
}

export function inRange(r: AddrRange, family: Family, v: bigint): boolean {
  return r.family === family && v >= r.start && v <= r.end;
}

/** Parse a prefix or throw ERR_INPUT_TYPE naming what was wrong. */
export function prefixOrThrow(what: string, s: string): IpPrefix {
  const p = parsePrefix(s);
  if (!p) fail("ERR_INPUT_TYPE", `${what}: '${s}' is not an IPv4/IPv6 prefix without host bits`);
  return p;
}
