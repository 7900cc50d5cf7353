/**
 * Traffic selectors (RFC 7296 §2.9, §3.13): configuration ⇄ TS payloads, and narrowing — the
 * responder answers with the part of what was proposed that its own policy allows, or
 * TS_UNACCEPTABLE when nothing is left.
 */
import * as C from "./constants.js";
import { formatIPv4, formatIPv6, fromBig, parseIp, toBig } from "../addr.js";
import type { TrafficSelector } from "../config/model.js";

export interface Ts {
  family: 4 | 6;
  /** IP protocol, 0 = any. */
  protocol: number;
  startPort: number;
  endPort: number;
  start: bigint;
  end: bigint;
}

const MAX = { 4: 0xffffffffn, 6: (1n << 128n) - 1n } as const;

/** Selectors of a child from the configuration; `dynamic` becomes the IKE address. */
export function tsFromConfig(list: TrafficSelector[], dynamic: string): Ts[] {
  return list.map((t) => {
    const port = t.port && t.port !== "opaque" ? t.port : { from: 0, to: 65535 };
    if (t.kind === "dynamic") {
      const a = parseIp(dynamic)!;
      const v = toBig(a.bytes);
      return { family: a.family, protocol: t.protocol, startPort: port.from, endPort: port.to, start: v, end: v };
    }
    if (t.kind === "subnet") {
      const a = parseIp(t.address)!;
      const bits = BigInt((t.family === 4 ? 32 : 128) - t.length);
      const start = toBig(a.bytes);
      return { family: t.family, protocol: t.protocol, startPort: port.from, endPort: port.to, start, end: start | ((1n << bits) - 1n) };
    }
    return { family: t.family, protocol: t.protocol, startPort: port.from, endPort: port.to, start: toBig(parseIp(t.from)!.bytes), end: toBig(parseIp(t.to)!.bytes) };
  });
}

export function tsFields(list: Ts[]): Record<string, unknown> {
  return {
    selectors: list.map((t) => {
      const f = t.family === 4 ? formatIPv4 : formatIPv6;
      return {
        tsType: t.family === 4 ? C.TS_IPV4_ADDR_RANGE : C.TS_IPV6_ADDR_RANGE,
        ipProtocol: t.protocol,
        startPort: t.startPort,
        endPort: t.endPort,
        startAddress: f(fromBig(t.start, t.family)),
        endAddress: f(fromBig(t.end, t.family)),
      };
    }),
  };
}

/** Selectors from decoded TS payload fields (unknown selector types are skipped, §3.13.1). */
export function parseTs(fields: Record<string, unknown>): Ts[] {
  const out: Ts[] = [];
  for (const s of (fields.selectors as Record<string, unknown>[]) ?? []) {
    if (s.tsType !== C.TS_IPV4_ADDR_RANGE && s.tsType !== C.TS_IPV6_ADDR_RANGE) continue;
    const a = parseIp(String(s.startAddress));
    const b = parseIp(String(s.endAddress));
    if (!a || !b) continue;
    out.push({ family: a.family, protocol: s.ipProtocol as number, startPort: s.startPort as number, endPort: s.endPort as number, start: toBig(a.bytes), end: toBig(b.bytes) });
  }
  return out;
}

function intersect(a: Ts, b: Ts): Ts | undefined {
  if (a.family !== b.family) return undefined;
  if (a.protocol !== 0 && b.protocol !== 0 && a.protocol !== b.protocol) return undefined;
  const start = a.start > b.start ? a.start : b.start;
  const end = a.end < b.end ? a.end : b.end;
  const startPort = Math.max(a.startPort, b.startPort);
  const endPort = Math.min(a.endPort, b.endPort);
  if (start > end || startPort > endPort) return undefined;
  return { family: a.family, protocol: a.protocol || b.protocol, startPort, endPort, start, end };
}

/** §2.9 narrowing: every part of `proposed` that `allowed` covers. Empty: TS_UNACCEPTABLE. */
export function narrow(proposed: Ts[], allowed: Ts[]): Ts[] {
  const out: Ts[] = [];
  for (const p of proposed) for (const a of allowed) {
    const x = intersect(p, a);
    if (x && !out.some((o) => o.family === x.family && o.start === x.start && o.end === x.end && o.protocol === x.protocol)) out.push(x);
  }
  return out;
}

/** Is every selector of `inner` inside one of `outer`? (The initiator's check of the narrowed reply.) */
export function within(inner: Ts[], outer: Ts[]): boolean {
  return inner.every((i) => outer.some((o) => {
    const x = intersect(i, o);
    return !!x && x.start === i.start && x.end === i.end && x.startPort === i.startPort && x.endPort === i.endPort && (o.protocol === 0 || o.protocol === i.protocol);
  }));
}

/** The same selectors, in any order. */
export function sameTs(a: Ts[], b: Ts[]): boolean {
  const eq = (x: Ts, y: Ts) => x.family === y.family && x.protocol === y.protocol && x.startPort === y.startPort && x.endPort === y.endPort && x.start === y.start && x.end === y.end;
  return a.length === b.length && a.every((x) => b.some((y) => eq(x, y))) && b.every((y) => a.some((x) => eq(x, y)));
}

export function isAll(t: Ts): boolean {
  return t.start === 0n && t.end === MAX[t.family];
}

export function tsText(list: Ts[]): string {
  return list
    .map((t) => {
      const f = (v: bigint) => (t.family === 4 ? formatIPv4 : formatIPv6)(fromBig(v, t.family));
      const proto = t.protocol ? `[${t.protocol}]` : "";
      return `${t.start === t.end ? f(t.start) : `${f(t.start)}..${f(t.end)}`}${proto}`;
    })
    .join(", ");
}
