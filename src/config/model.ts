/**
 * The typed configuration: swanctl.conf's `connections` and `secrets` (the subset
 * ipsec6in4 implements, with strongSwan's names, defaults and value syntax) and our own
 * `tunnels` section for RFC 4213 tunnel interfaces, plus the link between them: a
 * connection whose addresses match a tunnel's IPv4 endpoints, and which has a child
 * carrying the tunnel's packets, protects that tunnel.
 *
 * Policy (documented in the report and tested):
 *  - Unknown keys and sections are refused ("unknown key", with a suggestion when a known
 *    key is close). strongSwan keys and sections that ipsec6in4 does not implement are
 *    refused with "not supported by ipsec6in4: <what>", unless `allowUnsupported` is set,
 *    in which case they are accepted and listed in `Config.ignored`. Top-level sections
 *    that other sections reference (templates, "conn : template { }") are not checked
 *    themselves; what inherits from them is.
 *  - Prefixes (routes, allow, traffic selectors, address subnets) must not have host bits
 *    set: 2001:db8:2::1/48 is refused, naming 2001:db8:2::/48. The tunnel interface
 *    `address` is an address with a prefix length, so its host bits are of course kept.
 *  - Addresses in the model are text: IPv6 in RFC 5952 canonical form, IPv4 dotted quad.
 *  - Numbers, durations and byte counts parse as strongSwan's strtoul(…, 0) does (decimal,
 *    0x hex, leading-0 octal) with its suffixes (s m h d; k m g = 1024^n), without signs;
 *    values above 2^53-1 are refused. Our own tunnel keys take plain decimal.
 *  - What ipsec6in4 can carry is checked at load time: transport-mode selectors are IPv4
 *    (or dynamic) with protocol 41 or any (RFC 4891 5.1); tunnel-mode selectors are IPv6
 *    (RFC 4891 Appendix A); a child needs an ESP proposal the data plane implements
 *    (ESP_IMPLEMENTED_CIPHERS); replay_window is 0 or a power of two from 32 to 65536;
 *    IKEv1, EAP/XAuth, modes other than tunnel/transport are refused; psk authentication
 *    needs a secrets.ike* entry matching the connection's identities (or one without ids);
 *    two tunnels may not share both endpoints; a tunnel's `allow` defaults to its `routes`.
 *  - Errors are collected: the first is thrown, all are in `error.errors`; a key that is
 *    defined twice is reported where its winning (last) definition is.
 */
import { redactKeys } from "../redact.js";
import {
  ConfigError,
  type Section,
  type SettingValue,
  type SourceLoc,
} from "./swanctl.js";
import {
  ESP_IMPLEMENTED_CIPHERS,
  espProposalImplemented,
  parseProposalList,
  type EspProposal,
  type IkeProposal,
} from "./proposals.js";
import { parseIPv4 as addrParseIPv4, parseIPv6 as addrParseIPv6, formatIPv4, formatIPv6 } from "../addr.js";

// ---------------------------------------------------------------------------------------
// Addresses

export type Family = 4 | 6;

// Text forms of addresses come from src/addr.ts (one implementation for the whole package).
export function parseIPv4(s: string): Uint8Array | null {
  return addrParseIPv4(s) ?? null;
}

export function parseIPv6(s: string): Uint8Array | null {
  return addrParseIPv6(s) ?? null;
}

export { formatIPv4, formatIPv6 };

export interface IpAddress {
  family: Family;
  bytes: Uint8Array;
}

export function parseIP(s: string): IpAddress | null {
  const v4 = parseIPv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = s.includes(":") ? parseIPv6(s) : null;
  return v6 ? { family: 6, bytes: v6 } : null;
}

export function formatIP(a: IpAddress): string {
  return a.family === 4 ? formatIPv4(a.bytes) : formatIPv6(a.bytes);
}

/** Canonical text of an IPv4 or IPv6 address, or null. */
export function canonicalIP(s: string): string | null {
  const a = parseIP(s);
  return a ? formatIP(a) : null;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function maskBytes(b: Uint8Array, len: number): Uint8Array {
  const m = new Uint8Array(b);
  for (let i = 0; i < m.length; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    m[i] &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
  }
  return m;
}

export interface IpPrefix {
  family: Family;
  /** Network address, canonical text. */
  address: string;
  length: number;
}

class Bad extends Error {}
function bad(reason: string): never {
  throw new Bad(reason);
}

function parseAddressWithLength(s: string, what: string): { ip: IpAddress; length: number | null } {
  const slash = s.indexOf("/");
  const addr = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIP(addr);
  if (!ip) bad(`'${addr}' is not an IPv4 or IPv6 address (in ${what} '${s}')`);
  if (slash < 0) return { ip, length: null };
  const lenText = s.slice(slash + 1);
  const max = ip.family === 4 ? 32 : 128;
  if (!/^(?:0|[1-9][0-9]*)$/.test(lenText) || Number(lenText) > max)
    bad(`'${lenText}' is not a prefix length for IPv${ip.family} (0 to ${max}) in '${s}'`);
  return { ip, length: Number(lenText) };
}

/** A prefix "addr/len" (or a bare address: /32, /128); host bits set are refused. */
export function parsePrefix(s: string, family?: Family, what = "prefix"): IpPrefix {
  const { ip, length } = parseAddressWithLength(s.trim(), what);
  if (family && ip.family !== family) bad(`'${s}' is IPv${ip.family}, an IPv${family} ${what} is needed`);
  const len = length ?? (ip.family === 4 ? 32 : 128);
  const net = maskBytes(ip.bytes, len);
  if (compareBytes(net, ip.bytes) !== 0) {
    const fixed = `${formatIP({ family: ip.family, bytes: net })}/${len}`;
    bad(`host bits are set in '${s}' (did you mean ${fixed}?)`);
  }
  return { family: ip.family, address: formatIP(ip), length: len };
}

export function prefixContains(p: IpPrefix, addr: string): boolean {
  const a = parseIP(addr);
  const n = parseIP(p.address);
  if (!a || !n || a.family !== n.family) return false;
  return compareBytes(maskBytes(a.bytes, p.length), n.bytes) === 0;
}

function rangeContains(from: string, to: string, addr: string): boolean {
  const a = parseIP(addr);
  const f = parseIP(from);
  const t = parseIP(to);
  if (!a || !f || !t || a.family !== f.family) return false;
  return compareBytes(f.bytes, a.bytes) <= 0 && compareBytes(a.bytes, t.bytes) <= 0;
}

function parseRange(s: string): { family: Family; from: string; to: string } {
  const [a, b, ...rest] = s.split("-");
  if (rest.length) bad(`'${s}' is not a range (from-to)`);
  const f = parseIP(a.trim());
  const t = parseIP((b ?? "").trim());
  if (!f || !t) bad(`'${s}' is not an address range: both ends must be IP addresses`);
  if (f.family !== t.family) bad(`the ends of range '${s}' are of different address families`);
  if (compareBytes(f.bytes, t.bytes) > 0) bad(`range '${s}' ends before it starts`);
  return { family: f.family, from: formatIP(f), to: formatIP(t) };
}

// ---------------------------------------------------------------------------------------
// Model types

/** An entry of local_addrs / remote_addrs. */
export type AddressSpec =
  | { kind: "any"; family?: Family }
  | { kind: "address"; family: Family; address: string }
  | { kind: "subnet"; family: Family; address: string; length: number }
  | { kind: "range"; family: Family; from: string; to: string }
  | { kind: "fqdn"; name: string };

/** Port restriction of a traffic selector: null = any port. */
export type PortRange = { from: number; to: number } | "opaque" | null;

export type TrafficSelector =
  | { kind: "dynamic"; protocol: number; port: PortRange }
  | { kind: "subnet"; family: Family; address: string; length: number; protocol: number; port: PortRange }
  | { kind: "range"; family: Family; from: string; to: string; protocol: number; port: PortRange };

export type IdentityType = "any" | "ipv4" | "ipv6" | "fqdn" | "rfc822" | "dn" | "asn1gn" | "keyid" | "custom";

export interface Identity {
  type: IdentityType;
  /** Canonical text: addresses canonical, fqdn without a leading "@", hex data as "#…". */
  value: string;
}

export type AuthMethod = "psk" | "pubkey";

export interface LocalAuth {
  auth: AuthMethod;
  /** null: the default, the IKE address of this end. */
  id: Identity | null;
  certs: string[];
  pubkeys: string[];
}

export interface RemoteAuth {
  auth: AuthMethod;
  /** Default %any (type "any"). */
  id: Identity;
  certs: string[];
  cacerts: string[];
  pubkeys: string[];
}

export type Action = "none" | "trap" | "start";
export type StartAction = Action | "trap|start";

export interface Child {
  name: string;
  mode: "tunnel" | "transport";
  local_ts: TrafficSelector[];
  remote_ts: TrafficSelector[];
  esp_proposals: EspProposal[];
  start_action: StartAction;
  close_action: Action;
  dpd_action: Action;
  /** Seconds. */
  rekey_time: number;
  life_time: number;
  rand_time: number;
  rekey_bytes: number;
  life_bytes: number;
  rand_bytes: number;
  rekey_packets: number;
  life_packets: number;
  rand_packets: number;
  /** Packets; 0 disables replay protection. */
  replay_window: number;
  /** Seconds; 0 disables. */
  inactivity: number;
}

export interface Connection {
  name: string;
  /** 0: IKEv2 initiating, either version accepted as responder (IKEv1 is refused here). */
  version: 0 | 2;
  local_addrs: AddressSpec[];
  remote_addrs: AddressSpec[];
  local_port: number;
  remote_port: number;
  proposals: IkeProposal[];
  encap: boolean;
  mobike: boolean;
  fragmentation: "yes" | "accept" | "force" | "no";
  keyingtries: number;
  /** Seconds. */
  dpd_delay: number;
  rekey_time: number;
  reauth_time: number;
  over_time: number;
  rand_time: number;
  local: LocalAuth;
  remote: RemoteAuth;
  children: Record<string, Child>;
}

export interface IkeSecret {
  name: string;
  /** Identities the key belongs to; empty: any peer. */
  ids: Identity[];
  /** The key bytes (ASCII, or decoded from 0x hex / 0s base64). */
  secret: Uint8Array;
}

export interface Tunnel {
  name: string;
  /** IPv4 tunnel endpoints. */
  local: string;
  remote: string;
  /** Inner IPv6 address of the interface, with its prefix length (host bits kept). */
  address: { address: string; length: number } | null;
  /** Inner prefixes routed into the tunnel. */
  routes: IpPrefix[];
  /** Ingress filter: inner sources accepted from the peer (default: the routes). */
  allow: IpPrefix[];
  mtu: number;
  /** Names of the connections that protect it (see Config.links). */
  protected_by: string[];
}

export interface TunnelLink {
  tunnel: string;
  connection: string;
  /** Children whose selectors carry the tunnel's packets. */
  children: string[];
  /** Both endpoints are named as single addresses in the connection (not %any/subnet/range). */
  exact: boolean;
}

export interface IgnoredSetting {
  key: string;
  file?: string;
  line?: number;
  reason: string;
}

export interface Config {
  connections: Record<string, Connection>;
  secrets: Record<string, IkeSecret>;
  tunnels: Record<string, Tunnel>;
  links: TunnelLink[];
  /** strongSwan settings accepted but not implemented (only with allowUnsupported). */
  ignored: IgnoredSetting[];
}

export interface BuildOptions {
  allowUnsupported?: boolean;
}

// ---------------------------------------------------------------------------------------
// Value syntax (strongSwan's)

/** strtoul(s, &end, 0) on the whole of `s`: decimal, 0x hex, 0-prefixed octal, no sign. */
function strtoul(s: string): { n: number; rest: string } {
  let m: RegExpExecArray | null;
  let n: number;
  let rest: string;
  if ((m = /^0[xX]([0-9a-fA-F]+)/.exec(s))) {
    n = parseInt(m[1], 16);
    rest = s.slice(m[0].length);
  } else if ((m = /^0([0-7]*)/.exec(s))) {
    n = m[1] ? parseInt(m[1], 8) : 0;
    rest = s.slice(m[0].length);
  } else if ((m = /^[1-9][0-9]*/.exec(s))) {
    n = Number(m[0]);
    rest = s.slice(m[0].length);
  } else bad(`'${s}' does not start with a number`);
  return { n, rest };
}

function safe(n: number, s: string): number {
  if (!Number.isSafeInteger(n)) bad(`'${s}' is too large (the limit is 2^53-1)`);
  return n;
}

export function parseUint(s: string, max = 0xffffffff): number {
  const { n, rest } = strtoul(s);
  if (rest) bad(`'${s}' is not a number`);
  if (n > max) bad(`${s} is out of range (0 to ${max})`);
  return n;
}

/** strongSwan's relative time: a number with an optional s, m, h or d (seconds by default). */
export function parseTime(s: string): number {
  const { n, rest } = strtoul(s);
  const unit = rest.replace(/^ +/, "");
  const mult: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };
  const k = unit.toLowerCase();
  if (!(k in mult)) bad(`'${s}' is not a duration (a number with an optional unit s, m, h or d)`);
  return safe(n * mult[k], s);
}

/** strongSwan's byte volume: a number with an optional k, m or g (powers of 1024). */
export function parseBytes(s: string): number {
  const { n, rest } = strtoul(s);
  const unit = rest.replace(/^ +/, "").toLowerCase();
  const mult: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  if (!(unit in mult)) bad(`'${s}' is not a byte count (a number with an optional unit k, m or g)`);
  return safe(n * mult[unit], s);
}

export function parseBool(s: string): boolean {
  const v = s.toLowerCase();
  if (["yes", "true", "enabled", "1"].includes(v)) return true;
  if (["no", "false", "disabled", "0"].includes(v)) return false;
  bad(`'${s}' is not a boolean (yes or no)`);
}

function parseDecimal(s: string, min: number, max: number, what: string): number {
  if (!/^(?:0|[1-9][0-9]*)$/.test(s)) bad(`'${s}' is not a decimal number`);
  const n = Number(s);
  if (n < min || n > max) bad(`${what} must be from ${min} to ${max}, not ${s}`);
  return n;
}

/** Comma list as swanctl splits it: items trimmed, empty items refused. */
export function splitList(s: string): string[] {
  const items = s.split(",").map((x) => x.trim());
  if (items.some((x) => x === "")) bad(`empty element in list '${s}'`);
  return items;
}

const PROTOCOLS: Record<string, number> = {
  ip: 0, icmp: 1, igmp: 2, ipencap: 4, tcp: 6, udp: 17, ipv6: 41, "ipv6-route": 43, "ipv6-frag": 44,
  gre: 47, esp: 50, ah: 51, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, sctp: 132, udplite: 136,
};
const SERVICES: Record<string, number> = {
  ssh: 22, domain: 53, http: 80, ntp: 123, bgp: 179, https: 443, isakmp: 500, "ipsec-nat-t": 4500,
};

function strtolWhole(s: string, max: number, what: string): number {
  const { n, rest } = strtoul(s);
  if (rest) bad(`'${s}' is not a ${what}`);
  if (n > max) bad(`${what} ${s} is out of range (0 to ${max})`);
  return n;
}

export function parseTrafficSelector(text: string): TrafficSelector {
  const s = text.trim();
  let protocol = 0;
  let port: PortRange = null;
  let addr = s;
  const open = s.indexOf("[");
  if (open >= 0) {
    if (!s.endsWith("]")) bad(`'${s}': the protocol/port selector must end with ']'`);
    addr = s.slice(0, open);
    const inner = s.slice(open + 1, -1);
    const slash = inner.indexOf("/");
    const proto = slash < 0 ? inner : inner.slice(0, slash);
    const ports = slash < 0 ? "" : inner.slice(slash + 1);
    if (proto === "" || proto === "any") protocol = 0;
    else if (proto in PROTOCOLS) protocol = PROTOCOLS[proto];
    else protocol = strtolWhole(proto, 255, "protocol");
    if (ports === "opaque") port = "opaque";
    else if (ports !== "" && ports !== "any") {
      if (ports in SERVICES) port = { from: SERVICES[ports], to: SERVICES[ports] };
      else {
        const [a, b, ...more] = ports.split("-");
        if (more.length) bad(`'${ports}' is not a port or port range`);
        const from = strtolWhole(a, 65535, "port");
        const to = b === undefined ? from : strtolWhole(b, 65535, "port");
        if (to < from) bad(`port range '${ports}' ends before it starts`);
        port = { from, to };
      }
    }
  }
  if (addr === "dynamic") return { kind: "dynamic", protocol, port };
  if (addr.includes("-")) return { kind: "range", ...parseRange(addr), protocol, port };
  const p = parsePrefix(addr, undefined, "traffic selector");
  return { kind: "subnet", family: p.family, address: p.address, length: p.length, protocol, port };
}

const HOSTNAME = /^(?=.{1,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.?$/;

export function parseAddressSpec(s: string): AddressSpec {
  if (s === "%any") return { kind: "any" };
  if (s === "%any4") return { kind: "any", family: 4 };
  if (s === "%any6") return { kind: "any", family: 6 };
  if (s.includes("/")) {
    const p = parsePrefix(s, undefined, "subnet");
    return { kind: "subnet", family: p.family, address: p.address, length: p.length };
  }
  const ip = parseIP(s);
  if (ip) return { kind: "address", family: ip.family, address: formatIP(ip) };
  if (s.includes("-")) {
    const r = s.split("-");
    if (r.length === 2 && parseIP(r[0].trim()) && parseIP(r[1].trim())) return { kind: "range", ...parseRange(s) };
  }
  if (/^[0-9.]+$/.test(s) || s.includes(":") || !HOSTNAME.test(s))
    bad(`'${s}' is not an IP address, subnet, range, DNS name or %any`);
  return { kind: "fqdn", name: s.toLowerCase().replace(/\.$/, "") };
}

const ID_PREFIXES: Record<string, IdentityType> = {
  ipv4: "ipv4", ipv6: "ipv6", rfc822: "rfc822", email: "rfc822", userfqdn: "rfc822", fqdn: "fqdn",
  dns: "fqdn", asn1dn: "dn", asn1gn: "asn1gn", keyid: "keyid",
};

/** An IKE identity as strongSwan reads one (identification_create_from_string). */
export function parseIdentity(s: string): Identity {
  if (s === "%any" || s === "%any6" || s === "*") return { type: "any", value: "%any" };
  const typed = /^([a-z0-9]+|\{[0-9]+\}):(.*)$/.exec(s);
  if (typed && (typed[1] in ID_PREFIXES || typed[1].startsWith("{"))) {
    const type = typed[1].startsWith("{") ? "custom" : ID_PREFIXES[typed[1]];
    let value = typed[2];
    if (value.startsWith("#")) {
      if (!/^#(?:[0-9a-fA-F]{2})+$/.test(value)) bad(`'${s}': the data after '#' must be hex bytes`);
      value = value.toLowerCase();
    } else if (value === "") bad(`'${s}' has an empty identity after the type prefix`);
    return { type, value: type === "custom" ? `${typed[1]}:${value}` : value };
  }
  const ip = parseIP(s);
  if (ip) return { type: ip.family === 4 ? "ipv4" : "ipv6", value: formatIP(ip) };
  if (s.startsWith("@#")) {
    if (!/^@#(?:[0-9a-fA-F]{2})+$/.test(s)) bad(`'${s}': a key id after '@#' must be hex bytes`);
    return { type: "keyid", value: "#" + s.slice(2).toLowerCase() };
  }
  if (s.startsWith("@@")) return { type: "rfc822", value: s.slice(2) };
  if (s.startsWith("@")) {
    if (s.length === 1) bad("'@' is an empty identity");
    return { type: "fqdn", value: s.slice(1) };
  }
  if (/^[A-Za-z][A-Za-z0-9.]*\s*=/.test(s)) return { type: "dn", value: s };
  if (s.includes("@")) return { type: "rfc822", value: s };
  if (/\s/.test(s)) bad(`'${s}' is not an identity (a DN needs attribute=value, e.g. "C=CH, O=org, CN=host")`);
  return { type: "fqdn", value: s };
}

function decodeSecret(s: string): Uint8Array {
  if (/^0x/i.test(s)) {
    const h = s.slice(2).replace(/:/g, "");
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(h)) bad("the secret after '0x' is not an even number of hex digits");
    return Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
  }
  if (/^0s/i.test(s)) {
    const b = s.slice(2);
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b) || b === "")
      bad("the secret after '0s' is not valid base64");
    const bin = atob(b);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  if (s === "") bad("the secret is empty");
  return new TextEncoder().encode(s);
}

// ---------------------------------------------------------------------------------------
// Reading sections

class Ctx {
  errors: ConfigError[] = [];
  ignored: IgnoredSetting[] = [];
  constructor(readonly allowUnsupported: boolean) {}
  error(key: string, loc: SourceLoc | undefined, reason: string): void {
    this.errors.push(new ConfigError(reason, key, loc));
  }
  unsupported(key: string, loc: SourceLoc | undefined, what: string): void {
    const reason = `not supported by ipsec6in4: ${what}`;
    if (this.allowUnsupported) this.ignored.push({ key, file: loc?.file, line: loc?.line, reason });
    else this.error(key, loc, reason + " (set allowUnsupported to accept and list it)");
  }
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

function suggest(name: string, known: string[]): string {
  let best = "";
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best ? ` (did you mean '${best}'?)` : "";
}

interface Finish {
  /** strongSwan keys we do not implement: key -> what it is. */
  unsupportedKeys?: Record<string, string>;
  /** strongSwan sections we do not implement: returns what it is, or undefined. */
  unsupportedSection?: (name: string) => string | undefined;
  /** Everything this section knows, for suggestions. */
  known?: string[];
}

class Reader {
  /** Keys whose value was refused (their default stands in; dependent checks skip them). */
  readonly failed = new Set<string>();
  private usedValues = new Set<string>();
  private usedSections = new Set<string>();
  constructor(
    readonly ctx: Ctx,
    readonly sec: Section,
    readonly path: string,
  ) {}
  key(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }
  raw(k: string): SettingValue | undefined {
    this.usedValues.add(k);
    const v = this.sec.values.get(k);
    return v && v.value !== null ? v : undefined;
  }
  loc(k: string): SourceLoc {
    return this.sec.values.get(k)?.loc ?? this.sec.sections.get(k)?.loc ?? this.sec.loc;
  }
  has(k: string): boolean {
    return this.raw(k) !== undefined;
  }
  read<T>(k: string, parse: (s: string) => T, def: T): T {
    const v = this.raw(k);
    if (!v) return def;
    try {
      return parse(v.value!);
    } catch (e) {
      if (e instanceof Bad) {
        this.ctx.error(this.key(k), v.loc, e.message);
        this.failed.add(k);
        return def;
      }
      throw e;
    }
  }
  opt<T>(k: string, parse: (s: string) => T): T | undefined {
    return this.read<T | undefined>(k, parse, undefined);
  }
  sub(k: string): Section | undefined {
    this.usedSections.add(k);
    return this.sec.sections.get(k);
  }
  sections(): Section[] {
    return [...this.sec.sections.values()];
  }
  finish(f: Finish = {}): void {
    const known = [...(f.known ?? []), ...this.usedValues, ...this.usedSections];
    for (const [k, v] of this.sec.values) {
      if (this.usedValues.has(k)) continue;
      const key = this.key(k);
      if (this.usedSections.has(k)) this.ctx.error(key, v.loc, `'${k}' is a section (${k} { … }), not a key`);
      else if (f.unsupportedKeys && k in f.unsupportedKeys) this.ctx.unsupported(key, v.loc, f.unsupportedKeys[k]);
      else this.ctx.error(key, v.loc, `unknown key '${k}'${suggest(k, known)}`);
    }
    for (const [k, s] of this.sec.sections) {
      if (this.usedSections.has(k)) continue;
      const key = this.key(k);
      const what = f.unsupportedSection?.(k);
      if (this.usedValues.has(k)) this.ctx.error(key, s.loc, `'${k}' is a key (${k} = …), not a section`);
      else if (what) this.ctx.unsupported(key, s.loc, what);
      else this.ctx.error(key, s.loc, `unknown section '${k}'${suggest(k, known)}`);
    }
  }
}

function checkName(ctx: Ctx, key: string, sec: Section): boolean {
  if (sec.name === "__proto__") {
    ctx.error(key, sec.loc, "'__proto__' is reserved and cannot name a section");
    return false;
  }
  return true;
}

const CONN_UNSUPPORTED: Record<string, string> = {
  vips: "virtual IPs (vips)",
  pools: "address pools (pools)",
  aggressive: "IKEv1 Aggressive Mode (aggressive)",
  pull: "IKEv1 Mode Config (pull)",
  dscp: "DSCP marking of IKE packets (dscp)",
  dpd_timeout: "IKEv1 DPD timeout (dpd_timeout)",
  send_certreq: "certificate request policy (send_certreq)",
  send_cert: "certificate sending policy (send_cert)",
  ocsp: "OCSP policy (ocsp)",
  ppk_id: "post-quantum preshared keys (ppk_id)",
  ppk_required: "post-quantum preshared keys (ppk_required)",
  unique: "uniqueness policy (unique)",
  if_id_in: "XFRM interface IDs (if_id_in)",
  if_id_out: "XFRM interface IDs (if_id_out)",
  mediation: "IKE mediation (mediation)",
  mediated_by: "IKE mediation (mediated_by)",
  mediation_peer: "IKE mediation (mediation_peer)",
  childless: "childless IKE SAs (childless)",
  close_action: "IKE_SA close_action",
};
const LOCAL_UNSUPPORTED: Record<string, string> = {
  round: "authentication round ordering (round)",
  eap_id: "EAP (eap_id)",
  aaa_id: "EAP (aaa_id)",
  xauth_id: "XAuth (xauth_id)",
  ca_id: "CA identity hints (ca_id)",
};
const REMOTE_UNSUPPORTED: Record<string, string> = {
  round: "authentication round ordering (round)",
  eap_id: "EAP (eap_id)",
  groups: "authorization groups (groups)",
  cert_policy: "certificate policy OIDs (cert_policy)",
  revocation: "revocation policy (revocation)",
  ca_id: "CA identity hints (ca_id)",
};
const CHILD_UNSUPPORTED: Record<string, string> = {
  ah_proposals: "AH (ah_proposals): ipsec6in4 does ESP only",
  updown: "updown scripts (updown)",
  hostaccess: "updown scripts (hostaccess)",
  policies: "policy installation control (policies)",
  policies_fwd_out: "forward policies (policies_fwd_out)",
  ipcomp: "IPComp (ipcomp)",
  reqid: "fixed reqids (reqid)",
  priority: "policy priorities (priority)",
  interface: "interface-restricted policies (interface)",
  mark_in: "netfilter marks (mark_in)",
  mark_in_sa: "netfilter marks (mark_in_sa)",
  mark_out: "netfilter marks (mark_out)",
  set_mark_in: "netfilter marks (set_mark_in)",
  set_mark_out: "netfilter marks (set_mark_out)",
  if_id_in: "XFRM interface IDs (if_id_in)",
  if_id_out: "XFRM interface IDs (if_id_out)",
  label: "security labels (label)",
  label_mode: "security labels (label_mode)",
  tfc_padding: "TFC padding (tfc_padding)",
  hw_offload: "hardware offload (hw_offload)",
  per_cpu_sas: "per-CPU SAs (per_cpu_sas)",
  sha256_96: "truncated HMAC-SHA-256 (sha256_96)",
  copy_df: "DF copying (copy_df)",
  copy_ecn: "ECN copying (copy_ecn)",
  copy_dscp: "DSCP copying (copy_dscp)",
};

function authMethod(s: string): AuthMethod {
  const v = s.toLowerCase();
  if (v === "psk" || v === "pubkey") return v;
  if (/^(eap|xauth)(-|$)/.test(v)) bad(`'${s}': EAP and XAuth are not supported by ipsec6in4 (psk or pubkey)`);
  if (/^(rsa|ecdsa|ed25519|ed448|bliss|ike:|pubkey-)/.test(v))
    bad(`'${s}': signature scheme constraints are not supported by ipsec6in4 (psk or pubkey)`);
  bad(`'${s}' is not an authentication method (psk or pubkey)`);
}

function authRoundSection(side: "local" | "remote"): (name: string) => string | undefined {
  return (n) => {
    if (n.startsWith("cacert")) return "certificate sections on tokens (cacert<suffix> { })";
    if (n.startsWith("cert")) return "certificate sections on tokens (cert<suffix> { })";
    return undefined;
  };
}

function readLocal(ctx: Ctx, sec: Section | undefined, path: string): LocalAuth {
  const out: LocalAuth = { auth: "pubkey", id: null, certs: [], pubkeys: [] };
  if (!sec) return out;
  const r = new Reader(ctx, sec, path);
  out.auth = r.read("auth", authMethod, out.auth);
  out.id = r.read("id", parseIdentity, null);
  out.certs = r.read("certs", splitList, []);
  out.pubkeys = r.read("pubkeys", splitList, []);
  r.finish({ unsupportedKeys: LOCAL_UNSUPPORTED, unsupportedSection: authRoundSection("local") });
  return out;
}

function readRemote(ctx: Ctx, sec: Section | undefined, path: string): RemoteAuth {
  const out: RemoteAuth = { auth: "pubkey", id: { type: "any", value: "%any" }, certs: [], cacerts: [], pubkeys: [] };
  if (!sec) return out;
  const r = new Reader(ctx, sec, path);
  out.auth = r.read("auth", authMethod, out.auth);
  out.id = r.read("id", parseIdentity, out.id);
  out.certs = r.read("certs", splitList, []);
  out.cacerts = r.read("cacerts", splitList, []);
  out.pubkeys = r.read("pubkeys", splitList, []);
  r.finish({ unsupportedKeys: REMOTE_UNSUPPORTED, unsupportedSection: authRoundSection("remote") });
  return out;
}

const ACTIONS: Record<string, Action> = {
  none: "none", clear: "none", trap: "trap", route: "trap", hold: "trap", start: "start", restart: "start",
};

function parseAction(s: string): Action {
  const a = ACTIONS[s.toLowerCase()];
  if (!a) bad(`'${s}' is not an action (none, trap or start; clear, hold and restart are aliases)`);
  return a;
}

function parseStartAction(s: string): StartAction {
  const v = s.toLowerCase().replace(/\s+/g, "");
  if (v === "trap|start" || v === "start|trap") return "trap|start";
  return parseAction(s);
}

function ikeProposals(s: string): IkeProposal[] {
  const r = parseProposalList<IkeProposal>(splitList(s), "ike");
  if (!r.ok) bad(r.reason);
  return r.proposal;
}

function espProposals(s: string): EspProposal[] {
  const r = parseProposalList<EspProposal>(splitList(s), "esp");
  if (!r.ok) bad(r.reason);
  return r.proposal;
}

const CIPHER_NAMES: Record<string, string> = { "aes-gcm": "AES-GCM", "chacha20-poly1305": "ChaCha20-Poly1305", "aes-gmac": "AES-GMAC" };

function tsList(s: string): TrafficSelector[] {
  return splitList(s).map(parseTrafficSelector);
}

function tsText(t: TrafficSelector): string {
  const a = t.kind === "dynamic" ? "dynamic" : t.kind === "subnet" ? `${t.address}/${t.length}` : `${t.from}-${t.to}`;
  return a;
}

function readChild(ctx: Ctx, sec: Section, path: string): Child {
  const r = new Reader(ctx, sec, path);
  const mode = r.read(
    "mode",
    (s) => {
      const v = s.toLowerCase();
      if (v === "tunnel" || v === "transport") return v;
      if (["transport_proxy", "beet", "pass", "drop", "iptfs"].includes(v))
        bad(`mode '${s}' is not supported by ipsec6in4 (tunnel or transport)`);
      bad(`'${s}' is not an IPsec mode (tunnel or transport)`);
    },
    "tunnel" as "tunnel" | "transport",
  );
  const dyn: TrafficSelector[] = [{ kind: "dynamic", protocol: 0, port: null }];
  const local_ts = r.read("local_ts", tsList, dyn);
  const remote_ts = r.read("remote_ts", tsList, dyn);
  const esp = r.read("esp_proposals", espProposals, espProposals("default"));
  if (r.has("esp_proposals") && !esp.some(espProposalImplemented))
    ctx.error(
      r.key("esp_proposals"),
      r.loc("esp_proposals"),
      `none of these ESP proposals can be served by ipsec6in4, whose ESP does ${[...ESP_IMPLEMENTED_CIPHERS].map((c) => CIPHER_NAMES[c] ?? c).join(", ")} only (e.g. aes128gcm16, aes256gcm16-esn)`,
    );
  const c: Child = {
    name: sec.name,
    mode,
    local_ts,
    remote_ts,
    esp_proposals: esp,
    start_action: r.read("start_action", parseStartAction, "none"),
    close_action: r.read("close_action", parseAction, "none"),
    dpd_action: r.read("dpd_action", parseAction, "none"),
    rekey_time: r.read("rekey_time", parseTime, 3600),
    life_time: 0,
    rand_time: 0,
    rekey_bytes: r.read("rekey_bytes", parseBytes, 0),
    life_bytes: 0,
    rand_bytes: 0,
    rekey_packets: r.read("rekey_packets", (s) => safe(parseUint(s, Number.MAX_SAFE_INTEGER), s), 0),
    life_packets: 0,
    rand_packets: 0,
    replay_window: r.read(
      "replay_window",
      (s) => {
        const n = parseUint(s);
        if (n !== 0 && (n < 32 || n > 65536 || (n & (n - 1)) !== 0))
          bad(`replay_window ${s} is not usable: ipsec6in4 needs 0 (disabled) or a power of two from 32 to 65536`);
        return n;
      },
      32,
    ),
    inactivity: r.read("inactivity", parseTime, 0),
  };
  // strongSwan's lifetimes: hard = soft + 10% unless given, jitter = hard - soft unless given.
  const packets = (s: string): number => safe(parseUint(s, Number.MAX_SAFE_INTEGER), s);
  const life = (k: string, rekey: number, p: (s: string) => number): number =>
    r.read(k, p, Math.floor((rekey * 110) / 100));
  c.life_time = life("life_time", c.rekey_time, parseTime);
  c.life_bytes = life("life_bytes", c.rekey_bytes, parseBytes);
  c.life_packets = life("life_packets", c.rekey_packets, packets);
  c.rand_time = r.read("rand_time", parseTime, c.life_time - Math.min(c.life_time, c.rekey_time));
  c.rand_bytes = r.read("rand_bytes", parseBytes, c.life_bytes - Math.min(c.life_bytes, c.rekey_bytes));
  c.rand_packets = r.read("rand_packets", packets, c.life_packets - Math.min(c.life_packets, c.rekey_packets));
  for (const [soft, hard, unit] of [
    ["rekey_time", "life_time", "seconds"],
    ["rekey_bytes", "life_bytes", "bytes"],
    ["rekey_packets", "life_packets", "packets"],
  ] as const) {
    if (r.has(hard) && c[soft] && c[hard] && c[hard] <= c[soft])
      ctx.error(r.key(hard), r.loc(hard), `${hard} (${c[hard]} ${unit}) must be greater than ${soft} (${c[soft]} ${unit}), or the SA expires before it is rekeyed`);
  }
  // What ipsec6in4 can carry: transport mode protects the IPv4 packets of protocol 41
  // between the endpoints (RFC 4891 5.1), tunnel mode carries IPv6 between IPv6 selectors
  // (RFC 4891 Appendix A).
  for (const [k, list] of [
    ["local_ts", local_ts],
    ["remote_ts", remote_ts],
  ] as const) {
    if (r.failed.has("mode") || r.failed.has(k)) continue;
    for (const t of list) {
      if (mode === "transport") {
        if (t.kind !== "dynamic" && t.family === 6)
          ctx.error(r.key(k), r.loc(k), `'${tsText(t)}': transport mode protects the IPv4 packets between the tunnel endpoints (RFC 4891 5.1), so selectors must be IPv4 or dynamic`);
        else if (t.protocol !== 0 && t.protocol !== 41)
          ctx.error(r.key(k), r.loc(k), `protocol ${t.protocol}: transport mode here carries IPv6-in-IPv4 (protocol 41), so the selector must allow protocol 41 (e.g. dynamic[41])`);
      } else if (t.kind === "dynamic" || t.family !== 6) {
        ctx.error(
          r.key(k),
          r.has(k) ? r.loc(k) : sec.loc,
          `'${tsText(t)}': tunnel mode carries IPv6 packets (RFC 4891 Appendix A), so selectors must be IPv6 prefixes or ranges` +
            (t.kind === "dynamic" ? " ('dynamic' is the IPv4 endpoint; use transport mode with dynamic[41] instead)" : ""),
        );
        break;
      }
    }
  }
  r.finish({ unsupportedKeys: CHILD_UNSUPPORTED });
  return c;
}

function readConnection(ctx: Ctx, sec: Section, path: string): Connection {
  const r = new Reader(ctx, sec, path);
  const any: AddressSpec[] = [{ kind: "any" }];
  const addrs = (s: string): AddressSpec[] => splitList(s).map(parseAddressSpec);
  const port = (s: string): number => parseUint(s, 65535);
  const version = r.read(
    "version",
    (s) => {
      const v = parseUint(s);
      if (v === 1) bad("IKEv1 is not supported by ipsec6in4 (use version = 2, or 0)");
      if (v !== 0 && v !== 2) bad(`'${s}' is not an IKE version (0 or 2)`);
      return v as 0 | 2;
    },
    0 as 0 | 2,
  );
  const reauth = r.opt("reauth_time", parseTime);
  const rekeyOpt = r.opt("rekey_time", parseTime);
  const rekey_time = rekeyOpt ?? (reauth === undefined ? 14400 : 0);
  const reauth_time = reauth ?? 0;
  const over_time = r.read("over_time", parseTime, Math.floor(Math.max(rekey_time, reauth_time) / 10));
  const conn: Connection = {
    name: sec.name,
    version,
    local_addrs: r.read("local_addrs", addrs, any),
    remote_addrs: r.read("remote_addrs", addrs, any),
    local_port: r.read("local_port", port, 500),
    remote_port: r.read("remote_port", port, 500),
    proposals: r.read("proposals", ikeProposals, ikeProposals("default")),
    encap: r.read("encap", parseBool, false),
    mobike: r.read("mobike", parseBool, true),
    fragmentation: r.read(
      "fragmentation",
      (s) => {
        const v = s.toLowerCase();
        if (v === "yes" || v === "accept" || v === "force" || v === "no") return v;
        bad(`'${s}' is not a fragmentation policy (yes, accept, force or no)`);
      },
      "yes" as Connection["fragmentation"],
    ),
    keyingtries: r.read("keyingtries", (s) => parseUint(s), 1),
    dpd_delay: r.read("dpd_delay", parseTime, 0),
    rekey_time,
    reauth_time,
    over_time,
    rand_time: r.read("rand_time", parseTime, over_time),
    local: readLocal(ctx, r.sub("local"), r.key("local")),
    remote: readRemote(ctx, r.sub("remote"), r.key("remote")),
    children: {},
  };
  const children = r.sub("children");
  if (children) {
    const cr = new Reader(ctx, children, r.key("children"));
    for (const c of cr.sections()) {
      const key = cr.key(c.name);
      if (!checkName(ctx, key, c)) continue;
      cr.sub(c.name);
      conn.children[c.name] = readChild(ctx, c, key);
    }
    cr.finish();
  }
  if (!children || children.sections.size === 0)
    ctx.error(r.key("children"), children?.loc ?? sec.loc, "a connection needs at least one child (children { name { … } })");
  r.finish({
    unsupportedKeys: CONN_UNSUPPORTED,
    unsupportedSection: (n) =>
      /^(local|remote)./.test(n) ? "multiple authentication rounds (local<suffix>/remote<suffix> sections)" : undefined,
  });
  return conn;
}

function readSecret(ctx: Ctx, sec: Section, path: string): IkeSecret | undefined {
  const r = new Reader(ctx, sec, path);
  const ids: Identity[] = [];
  for (const k of sec.values.keys()) if (k.startsWith("id")) {
    const id = r.opt(k, parseIdentity);
    if (id) ids.push(id);
  }
  let secret: Uint8Array | undefined;
  const v = r.raw("secret");
  if (!v) ctx.error(r.key("secret"), sec.loc, "an IKE secret needs 'secret = …'");
  else
    try {
      secret = decodeSecret(v.value!);
    } catch (e) {
      if (!(e instanceof Bad)) throw e;
      ctx.error(r.key("secret"), v.loc, e.message);
    }
  r.finish();
  return secret ? redactKeys({ name: sec.name, ids, secret }, ["secret"]) : undefined;
}

const SECRET_TYPES = ["eap", "xauth", "ntlm", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token", "ppk", "ike"];

function readTunnel(ctx: Ctx, sec: Section, path: string): Tunnel {
  const r = new Reader(ctx, sec, path);
  const endpoint = (s: string): string => {
    const ip = parseIP(s);
    if (!ip) bad(`'${s}' is not an IPv4 address`);
    if (ip.family !== 4) bad(`'${s}' is IPv6; tunnel endpoints are IPv4 (RFC 4213 IPv6-in-IPv4)`);
    const b = ip.bytes;
    if (b.every((x) => x === 0)) bad(`'${s}' is the unspecified address`);
    if (b[0] >= 224 && b[0] <= 239) bad(`'${s}' is a multicast address`);
    if (b.every((x) => x === 255)) bad(`'${s}' is the broadcast address`);
    return formatIP(ip);
  };
  const prefixes = (s: string): IpPrefix[] => splitList(s).map((x) => parsePrefix(x, 6));
  const local = r.read("local", endpoint, "");
  const remote = r.read("remote", endpoint, "");
  for (const [k, v] of [
    ["local", local],
    ["remote", remote],
  ])
    if (!v && !r.has(k)) ctx.error(r.key(k), sec.loc, `a tunnel needs '${k}' (its ${k} IPv4 endpoint)`);
  if (local && local === remote) ctx.error(r.key("remote"), r.loc("remote"), `the remote endpoint equals the local one (${local})`);
  const address = r.read(
    "address",
    (s) => {
      const { ip, length } = parseAddressWithLength(s, "address");
      if (ip.family !== 6) bad(`'${s}' is not IPv6; the tunnel interface carries IPv6`);
      if (length === null) bad(`'${s}' needs a prefix length (e.g. ${formatIP(ip)}/64)`);
      const b = ip.bytes;
      if (b[0] === 0xff) bad(`'${s}' is a multicast address`);
      if (b.slice(0, 15).every((x) => x === 0) && b[15] <= 1) bad(`'${s}' is the unspecified or loopback address`);
      if (b.slice(0, 10).every((x) => x === 0) && ((b[10] === 0xff && b[11] === 0xff) || (b[10] === 0 && b[11] === 0)))
        bad(`'${s}' is an IPv4-mapped or IPv4-compatible address`);
      return { address: formatIP(ip), length };
    },
    null as Tunnel["address"],
  );
  const routes = r.read("routes", prefixes, []);
  const allow = r.read("allow", prefixes, routes);
  const mtu = r.read(
    "mtu",
    (s) => {
      const n = parseDecimal(s, 0, Number.MAX_SAFE_INTEGER, "mtu");
      if (n < 1280) bad(`mtu ${s} is below the IPv6 minimum of 1280 (RFC 4213 3.2)`);
      if (n > 65515) bad(`mtu ${s} does not fit in an IPv4 packet (at most 65515)`);
      return n;
    },
    1280,
  );
  r.finish();
  return { name: sec.name, local, remote, address, routes, allow, mtu, protected_by: [] };
}

// ---------------------------------------------------------------------------------------
// Tunnel <-> connection

function addrMatches(specs: AddressSpec[], addr: string): "exact" | "wide" | null {
  let found: "exact" | "wide" | null = null;
  for (const s of specs) {
    if (s.kind === "address" && s.address === addr) return "exact";
    if (
      (s.kind === "any" && s.family !== 6) ||
      (s.kind === "subnet" && prefixContains(s, addr)) ||
      (s.kind === "range" && rangeContains(s.from, s.to, addr))
    )
      found = "wide";
  }
  return found;
}

function tsCovers(list: TrafficSelector[], addr: string): boolean {
  return list.some(
    (t) =>
      (t.protocol === 0 || t.protocol === 41) &&
      (t.kind === "dynamic" ||
        (t.kind === "subnet" && prefixContains(t, addr)) ||
        (t.kind === "range" && rangeContains(t.from, t.to, addr))),
  );
}

export function linkTunnels(connections: Record<string, Connection>, tunnels: Record<string, Tunnel>): TunnelLink[] {
  const links: TunnelLink[] = [];
  for (const t of Object.values(tunnels)) {
    if (!t.local || !t.remote) continue;
    for (const c of Object.values(connections)) {
      const l = addrMatches(c.local_addrs, t.local);
      const rm = addrMatches(c.remote_addrs, t.remote);
      if (!l || !rm) continue;
      const children = Object.values(c.children)
        .filter((ch) => ch.mode === "tunnel" || (tsCovers(ch.local_ts, t.local) && tsCovers(ch.remote_ts, t.remote)))
        .map((ch) => ch.name);
      if (children.length === 0) continue;
      links.push({ tunnel: t.name, connection: c.name, children, exact: l === "exact" && rm === "exact" });
      t.protected_by.push(c.name);
    }
  }
  return links;
}

// ---------------------------------------------------------------------------------------

function identityCandidates(c: Connection): Identity[] {
  const out: Identity[] = [];
  const addIps = (specs: AddressSpec[]): void => {
    for (const s of specs)
      if (s.kind === "address") out.push({ type: s.family === 4 ? "ipv4" : "ipv6", value: s.address });
      else if (s.kind === "fqdn") out.push({ type: "fqdn", value: s.name });
  };
  if (c.local.id) out.push(c.local.id);
  else addIps(c.local_addrs);
  if (c.remote.id.type !== "any") out.push(c.remote.id);
  else addIps(c.remote_addrs);
  return out;
}

/** Build the model from a resolved settings tree. Throws ConfigError (all problems in .errors). */
export function buildConfig(root: Section, referenced: Set<string> = new Set(), opts: BuildOptions = {}): Config {
  const ctx = new Ctx(opts.allowUnsupported ?? false);
  const r = new Reader(ctx, root, "");
  const cfg: Config = { connections: {}, secrets: {}, tunnels: {}, links: [], ignored: ctx.ignored };
  const conns = r.sub("connections");
  if (conns) {
    const cr = new Reader(ctx, conns, "connections");
    for (const s of cr.sections()) {
      cr.sub(s.name);
      const key = cr.key(s.name);
      if (checkName(ctx, key, s)) cfg.connections[s.name] = readConnection(ctx, s, key);
    }
    cr.finish();
  }
  const secrets = r.sub("secrets");
  const secretLoc: Record<string, SourceLoc> = {};
  if (secrets) {
    const sr = new Reader(ctx, secrets, "secrets");
    for (const s of sr.sections()) {
      const type = SECRET_TYPES.find((t) => s.name.startsWith(t));
      if (type !== "ike") continue;
      sr.sub(s.name);
      const key = sr.key(s.name);
      if (!checkName(ctx, key, s)) continue;
      const sec = readSecret(ctx, s, key);
      if (sec) cfg.secrets[s.name] = sec;
      secretLoc[s.name] = s.loc;
    }
    sr.finish({
      unsupportedSection: (n) => {
        const t = SECRET_TYPES.find((x) => n.startsWith(x));
        return t ? `${t} secrets (${t}<suffix> { }): ipsec6in4 uses IKE preshared keys (ike<suffix>) only` : undefined;
      },
    });
  }
  const tunnels = r.sub("tunnels");
  if (tunnels) {
    const tr = new Reader(ctx, tunnels, "tunnels");
    const seen = new Map<string, string>();
    for (const s of tr.sections()) {
      tr.sub(s.name);
      const key = tr.key(s.name);
      if (!checkName(ctx, key, s)) continue;
      const t = readTunnel(ctx, s, key);
      cfg.tunnels[s.name] = t;
      if (t.local && t.remote) {
        const pair = `${t.local} ${t.remote}`;
        const other = seen.get(pair);
        if (other)
          ctx.error(key, s.loc, `tunnel '${s.name}' has the same endpoints (${t.local} -> ${t.remote}) as tunnel '${other}'; packets could not be told apart`);
        else seen.set(pair, s.name);
      }
    }
    tr.finish();
  }
  const templates = new Set([...referenced].map((n) => n.split(".")[0]));
  for (const name of root.sections.keys()) if (templates.has(name)) r.sub(name);
  r.finish({
    unsupportedSection: (n) =>
      n === "pools" ? "address pools (pools)" : n === "authorities" ? "certification authorities (authorities)" : undefined,
    known: ["connections", "secrets", "tunnels"],
  });

  // PSK authentication needs a key that can be found for the connection's identities.
  for (const c of Object.values(cfg.connections)) {
    const sides = (["local", "remote"] as const).filter((s) => c[s].auth === "psk");
    if (!sides.length) continue;
    const cands = identityCandidates(c);
    const ok = Object.values(cfg.secrets).some(
      (s) =>
        s.ids.length === 0 ||
        s.ids.some((id) => id.type === "any" || cands.some((c2) => c2.type === id.type && c2.value === id.value)),
    );
    if (!ok) {
      const path = `connections.${c.name}.${sides[0]}`;
      const sec = conns?.sections.get(c.name)?.sections.get(sides[0]);
      const who = cands.map((x) => x.value).join(", ") || "%any";
      ctx.error(`${path}.auth`, sec?.values.get("auth")?.loc ?? sec?.loc, `psk authentication, but no secrets.ike<suffix> entry has an id matching ${who}`);
    }
  }
  cfg.links = linkTunnels(cfg.connections, cfg.tunnels);
  if (ctx.errors.length) {
    const first = ctx.errors[0];
    first.errors = ctx.errors;
    throw first;
  }
  return cfg;
}
