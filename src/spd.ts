/**
 * The Security Policy Database (RFC 4301 §4.4.1): an ordered list of entries, each a set of
 * selectors and an action — BYPASS, DISCARD or PROTECT (ESP, transport or tunnel mode with
 * its endpoints). The first entry whose selectors match decides (RFC 4301 §4.4.1: "the SPD
 * is ordered"). RFC 4891 §5.1 and Appendix A give the SPDs this project is built for:
 *
 *   Rule  Local      Remote     Next layer  Action
 *   1     IPV4-TEP1  IPV4-TEP2  ESP         BYPASS
 *   2     IPV4-TEP1  IPV4-TEP2  IKE         BYPASS      (UDP 500, and 4500 with NAT-T)
 *   3     IPV4-TEP1  IPV4-TEP2  41          PROTECT(ESP, transport)
 *
 * The hot path does not walk this list per packet: the pipelines resolve an entry once per
 * tunnel (transport mode) or per SA (tunnel mode) and check selectors inside wasm.
 */
import { type AddrRange, type Family, formatIPv4, formatIPv6, fromBig, inRange } from "./addr.js";
import { fail } from "./errors.js";

export type SpdAction = "bypass" | "discard" | "protect";

/** Next-layer protocols with names (RFC 4301 §4.4.1.1: ANY, or an IANA protocol number). */
export const PROTO = { ANY: -1, IPV6_IN_IPV4: 41, ESP: 50, UDP: 17, TCP: 6, ICMPV6: 58 } as const;
/** UDP ports of IKE: 500, and 4500 once NAT traversal floats (RFC 7296 §2.23, RFC 3948). */
export const IKE_PORTS: readonly number[] = [500, 4500];

export interface PortRange {
  start: number;
  end: number;
}

export interface Selectors {
  /** Local addresses; empty = ANY. */
  local: AddrRange[];
  /** Remote addresses; empty = ANY. */
  remote: AddrRange[];
  /** Next-layer protocol number, or -1 for ANY. */
  protocol: number;
  /** Port ranges (UDP/TCP); undefined = ANY. "IKE" is UDP with remote or local port 500/4500. */
  localPorts?: PortRange[];
  remotePorts?: PortRange[];
}

export interface ProtectInfo {
  mode: "transport" | "tunnel";
  /** Tunnel mode: the outer (IPv4) endpoints. */
  tunnel?: { local: Uint8Array; remote: Uint8Array };
  /** The swanctl connection and child that negotiate SAs for this entry. */
  connection?: string;
  child?: string;
}

export interface SpdEntry {
  name: string;
  selectors: Selectors;
  action: SpdAction;
  protect?: ProtectInfo;
}

/** What a packet presents to the SPD (RFC 4301 §4.4.1.1), from this host's point of view. */
export interface SpdQuery {
  family: Family;
  local: bigint;
  remote: bigint;
  protocol: number;
  localPort?: number;
  remotePort?: number;
}

function portsMatch(ranges: PortRange[] | undefined, port: number | undefined): boolean {
  if (ranges === undefined) return true;
  if (port === undefined) return false;
  return ranges.some((r) => port >= r.start && port <= r.end);
}

function addrsMatch(ranges: AddrRange[], family: Family, v: bigint): boolean {
  return ranges.length === 0 || ranges.some((r) => inRange(r, family, v));
}

export function matches(s: Selectors, q: SpdQuery): boolean {
  return (
    (s.protocol === PROTO.ANY || s.protocol === q.protocol) &&
    addrsMatch(s.local, q.family, q.local) &&
    addrsMatch(s.remote, q.family, q.remote) &&
    portsMatch(s.localPorts, q.localPort) &&
    portsMatch(s.remotePorts, q.remotePort)
  );
}

export class Spd {
  private list: SpdEntry[] = [];

  constructor(entries: SpdEntry[] = []) {
    for (const e of entries) this.add(e);
  }

  get entries(): readonly SpdEntry[] {
    return this.list;
  }

  /** Append (or insert at `index`) an entry. Names are unique. */
  add(entry: SpdEntry, index = this.list.length): void {
    if (!entry || typeof entry.name !== "string" || entry.name === "") fail("ERR_CONFIG", "SPD entry needs a name");
    if (this.list.some((e) => e.name === entry.name)) fail("ERR_CONFIG", `SPD entry '${entry.name}' exists already`);
    if (!["bypass", "discard", "protect"].includes(entry.action)) {
      fail("ERR_CONFIG", `SPD entry '${entry.name}': action must be bypass, discard or protect`);
    }
    if (entry.action === "protect") {
      const p = entry.protect;
      if (!p || (p.mode !== "transport" && p.mode !== "tunnel")) {
        fail("ERR_CONFIG", `SPD entry '${entry.name}': PROTECT needs mode transport or tunnel`);
      }
      if (p.mode === "tunnel" && !p.tunnel) fail("ERR_CONFIG", `SPD entry '${entry.name}': tunnel mode needs its endpoints`);
    }
    if (!Number.isInteger(index) || index < 0 || index > this.list.length) {
      fail("ERR_CONFIG", `SPD index ${index} is outside 0..${this.list.length}`);
    }
    this.list.splice(index, 0, entry);
  }

  remove(name: string): boolean {
    const i = this.list.findIndex((e) => e.name === name);
    if (i >= 0) this.list.splice(i, 1);
    return i >= 0;
  }

  /** The first matching entry (RFC 4301 §4.4.1: ordered), or undefined: the caller discards. */
  lookup(q: SpdQuery): SpdEntry | undefined {
    return this.list.find((e) => matches(e.selectors, q));
  }

  /** The SPD as RFC 4891 prints it, for logs and `status`. */
  toTable(): string {
    const addr = (rs: AddrRange[]) =>
      rs.length === 0
        ? "ANY"
        : rs
            .map((r) => {
              const f = (v: bigint) => (r.family === 4 ? formatIPv4 : formatIPv6)(fromBig(v, r.family));
              if (r.start === r.end) return f(r.start);
              // A range that is a prefix prints as one (CIDR), others as start-end.
              const size = r.end - r.start + 1n;
              const bits = size.toString(2).length - 1;
              if ((size & (size - 1n)) === 0n && (r.start & (size - 1n)) === 0n) {
                return `${f(r.start)}/${(r.family === 4 ? 32 : 128) - bits}`;
              }
              return `${f(r.start)}-${f(r.end)}`;
            })
            .join(",");
    const proto = (s: Selectors) => {
      if (s.protocol === PROTO.UDP && (s.remotePorts || s.localPorts)) {
        const ports = [...(s.remotePorts ?? []), ...(s.localPorts ?? [])].map((p) => p.start);
        if (ports.every((p) => IKE_PORTS.includes(p))) return "IKE";
      }
      return s.protocol === PROTO.ANY ? "ANY" : s.protocol === PROTO.ESP ? "ESP" : String(s.protocol);
    };
    const action = (e: SpdEntry) => {
      if (e.action !== "protect") return e.action.toUpperCase();
      const p = e.protect!;
      if (p.mode === "transport") return "PROTECT(ESP,transport)";
      return `PROTECT(ESP,tunnel{${formatIPv4(p.tunnel!.local)},${formatIPv4(p.tunnel!.remote)}})`;
    };
    const rows = this.list.map((e, i) => [String(i + 1), addr(e.selectors.local), addr(e.selectors.remote), proto(e.selectors), action(e)]);
    const head = ["Rule", "Local", "Remote", "Protocol", "Action"];
    const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    return [head, ...rows].map((r) => r.map((x, c) => x.padEnd(w[c])).join("  ").trimEnd()).join("\n");
  }
}
