/**
 * A configured IPv6-in-IPv4 tunnel (RFC 4213 §3): its IPv4 endpoints, the inner address of
 * the tunnel interface, the inner prefixes routed into it, the inner sources accepted from
 * the peer (ingress filtering, RFC 4891 §5.1), and its MTU (RFC 4213 §3.2: 1280 by default).
 * The names of the fields are those of the configuration's `tunnels` section.
 */
import { type IpPrefix, parseIPv4, parseIPv6, parsePrefix, formatIPv6 } from "./addr.js";
import { fail } from "./errors.js";

export interface TunnelConfig {
  name: string;
  /** Local IPv4 endpoint. */
  local: string;
  /** Remote IPv4 endpoint. */
  remote: string;
  /** Inner IPv6 address of the tunnel interface, with its prefix length (e.g. 2001:db8:1::1/64). */
  address: string;
  /** Inner prefixes sent into the tunnel. */
  routes?: string[];
  /** Inner source prefixes accepted from the peer (ingress filter). Empty: no inner source is accepted. */
  allow?: string[];
  /** Tunnel MTU (RFC 4213 §3.2), at least 1280. Default 1280. */
  mtu?: number;
  /** Outer TTL (RFC 4213 §3.3). Default 64. */
  ttl?: number;
  /** Set DF on outer packets (RFC 4213 §3.2.2 dynamic MTU). Default false (§3.2.1 static MTU). */
  df?: boolean;
}

export interface Tunnel {
  readonly name: string;
  readonly index: number;
  readonly local: Uint8Array;
  readonly remote: Uint8Array;
  readonly address: Uint8Array;
  readonly addressLength: number;
  readonly routes: IpPrefix[];
  readonly allow: IpPrefix[];
  readonly mtu: number;
  readonly ttl: number;
  readonly df: boolean;
}

/** Validate a tunnel's configuration; every error names the tunnel, the key and the reason. */
export function checkTunnel(c: TunnelConfig): Omit<Tunnel, "index"> {
  const where = (key: string) => `tunnel '${c?.name}': ${key}`;
  if (!c || typeof c.name !== "string" || !/^[A-Za-z0-9_.-]{1,15}$/.test(c.name)) {
    fail("ERR_CONFIG", `tunnel name must be 1-15 letters, digits, '_', '.' or '-' (an interface name), not ${JSON.stringify(c?.name)}`);
  }
  const v4 = (key: "local" | "remote") => {
    const a = typeof c[key] === "string" ? parseIPv4(c[key]) : undefined;
    if (!a) fail("ERR_CONFIG", `${where(key)}: '${String(c[key])}' is not an IPv4 address`);
    return a;
  };
  const local = v4("local");
  const remote = v4("remote");
  if (local.every((b, i) => b === remote[i])) fail("ERR_CONFIG", `${where("remote")}: the endpoints are the same address`);
  const slash = typeof c.address === "string" ? c.address.indexOf("/") : -1;
  const addr = slash > 0 ? parseIPv6(c.address.slice(0, slash)) : undefined;
  const addrLen = slash > 0 ? Number(c.address.slice(slash + 1)) : NaN;
  if (!addr || !Number.isInteger(addrLen) || addrLen < 1 || addrLen > 128) {
    fail("ERR_CONFIG", `${where("address")}: '${String(c.address)}' is not an IPv6 address with a prefix length (e.g. 2001:db8:1::1/64)`);
  }
  const prefixes = (key: "routes" | "allow") => {
    const list = c[key] ?? [];
    if (!Array.isArray(list)) fail("ERR_CONFIG", `${where(key)}: must be a list of IPv6 prefixes`);
    return list.map((s) => {
      const p = typeof s === "string" ? parsePrefix(s) : undefined;
      if (!p || p.family !== 6) fail("ERR_CONFIG", `${where(key)}: '${String(s)}' is not an IPv6 prefix without host bits`);
      return p;
    });
  };
  const mtu = c.mtu ?? 1280;
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65515) {
    fail("ERR_CONFIG", `${where("mtu")}: must be an integer from 1280 (RFC 4213 §3.2) to 65515, not ${String(c.mtu)}`);
  }
  const ttl = c.ttl ?? 64;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) fail("ERR_CONFIG", `${where("ttl")}: must be an integer from 1 to 255`);
  if (c.df !== undefined && typeof c.df !== "boolean") fail("ERR_CONFIG", `${where("df")}: must be yes or no`);
  return {
    name: c.name,
    local,
    remote,
    address: addr,
    addressLength: addrLen,
    routes: prefixes("routes"),
    allow: prefixes("allow"),
    mtu,
    ttl,
    df: c.df ?? false,
  };
}

export function describeTunnel(t: Tunnel): string {
  const v4 = (b: Uint8Array) => b.join(".");
  return `${t.name}: ${v4(t.local)} <-> ${v4(t.remote)}, ${formatIPv6(t.address)}/${t.addressLength}, mtu ${t.mtu}`;
}
