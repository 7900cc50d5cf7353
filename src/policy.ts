/**
 * From a configuration (swanctl.conf + our `tunnels` section) to the RFC 4301 databases:
 * the SPD entries RFC 4891 prints (§5.1 transport mode, Appendix A.2/A.3 tunnel mode), the
 * PAD entries of the peers (RFC 4891 §5.2), and the tunnels with the policy their SPD gives.
 *
 * strongSwan keeps rules 1 and 2 of RFC 4891's tables (ESP and IKE BYPASS) implicit; here they
 * are written out, in the RFC's order, in front of each connection's PROTECT entries, so the
 * SPD reads exactly like the RFC's tables.
 */
import { type AddrRange, hostRange, parseIp, prefixRange, parsePrefix, toBig, fromBig } from "./addr.js";
import type { Config, Connection, TrafficSelector, AddressSpec } from "./config/model.js";
import { fail } from "./errors.js";
import { ANY_ID_TYPE, Pad, parseIdentity, type PadEntry } from "./pad.js";
import { Spd, PROTO, IKE_PORTS, type SpdEntry } from "./spd.js";
import type { TunnelConfig } from "./tunnel.js";
import type { TunnelPolicy } from "./pipeline.js";

function range(text: string): AddrRange {
  const a = parseIp(text);
  if (!a) fail("ERR_CONFIG", `'${text}' is not an address`);
  return hostRange(a);
}

function addrRanges(specs: AddressSpec[]): AddrRange[] {
  const out: AddrRange[] = [];
  for (const s of specs) {
    if (s.kind === "address") out.push(range(s.address));
    else if (s.kind === "subnet") out.push(prefixRange(parsePrefix(`${s.address}/${s.length}`)!));
    else if (s.kind === "range") out.push({ family: s.family, start: range(s.from).start, end: range(s.to).start });
    else return []; // %any or an FQDN: ANY
  }
  return out;
}

function tsRanges(ts: TrafficSelector[], dynamic: AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  for (const t of ts) {
    if (t.kind === "dynamic") out.push(...dynamic);
    else if (t.kind === "subnet") out.push(prefixRange(parsePrefix(`${t.address}/${t.length}`)!));
    else out.push({ family: t.family, start: range(t.from).start, end: range(t.to).start });
  }
  return out;
}

/** Single protocol of a child's selectors, or ANY. */
function tsProtocol(ts: TrafficSelector[]): number {
  const ps = new Set(ts.map((t) => t.protocol));
  return ps.size === 1 && !ps.has(0) ? [...ps][0] : PROTO.ANY;
}

function bypassRules(prefix: string, local: AddrRange[], remote: AddrRange[]): SpdEntry[] {
  const ike = IKE_PORTS.map((p) => ({ start: p, end: p }));
  return [
    { name: `${prefix}/esp`, selectors: { local, remote, protocol: PROTO.ESP }, action: "bypass" },
    { name: `${prefix}/ike`, selectors: { local, remote, protocol: PROTO.UDP, remotePorts: ike }, action: "bypass" },
  ];
}

export interface Policy {
  spd: Spd;
  pad: Pad;
  /** Tunnels ready for Dataplane.addTunnel, with the SPD's decision for protocol 41. */
  tunnels: { config: TunnelConfig; policy: TunnelPolicy; connection?: string }[];
}

/** Build the SPD, PAD and tunnel list of a loaded configuration. */
export function policyFromConfig(config: Config): Policy {
  const entries: SpdEntry[] = [];
  const pad = new Pad();
  for (const conn of Object.values(config.connections)) {
    const localAddrs = addrRanges(conn.local_addrs);
    const remoteAddrs = addrRanges(conn.remote_addrs);
    for (const child of Object.values(conn.children)) {
      const local = tsRanges(child.local_ts, localAddrs);
      const remote = tsRanges(child.remote_ts, remoteAddrs);
      const name = `${conn.name}/${child.name}`;
      if (child.mode === "transport") {
        // RFC 4891 §5.1: ESP, IKE BYPASS; protocol 41 PROTECT(ESP, transport).
        entries.push(...bypassRules(name, local, remote), {
          name,
          selectors: { local, remote, protocol: tsProtocol([...child.local_ts, ...child.remote_ts]) },
          action: "protect",
          protect: { mode: "transport", connection: conn.name, child: child.name },
        });
      } else {
        // RFC 4891 A.2/A.3: rules on the IPv6 selectors, PROTECT(ESP, tunnel{TEP1, TEP2}).
        const tep = (rs: AddrRange[], which: string) => {
          const r = rs.find((x) => x.family === 4 && x.start === x.end);
          if (!r) fail("ERR_CONFIG", `connection '${conn.name}': tunnel mode needs a single IPv4 ${which} address`);
          return fromBig(r.start, 4);
        };
        entries.push(...bypassRules(name, anyIfAll(local), anyIfAll(remote)), {
          name,
          selectors: { local: anyIfAll(local), remote: anyIfAll(remote), protocol: tsProtocol([...child.local_ts, ...child.remote_ts]) },
          action: "protect",
          protect: { mode: "tunnel", tunnel: { local: tep(localAddrs, "local"), remote: tep(remoteAddrs, "remote") }, connection: conn.name, child: child.name },
        });
      }
    }
    pad.add(padEntry(config, conn, remoteAddrs));
  }
  const spd = new Spd(entries);
  const tunnels = Object.values(config.tunnels).map((t) => {
    const e = spd.lookup({ family: 4, local: toBig(parseIp(t.local)!.bytes), remote: toBig(parseIp(t.remote)!.bytes), protocol: PROTO.IPV6_IN_IPV4 });
    // A tunnel-mode connection between the same endpoints protects the tunnel as well.
    const viaTunnelMode = config.links.find((l) => l.tunnel === t.name);
    const policy: TunnelPolicy = e ? (e.action === "protect" ? "protect" : e.action === "bypass" ? "bypass" : "discard") : viaTunnelMode ? "protect" : "discard";
    const cfg: TunnelConfig = {
      name: t.name,
      local: t.local,
      remote: t.remote,
      address: t.address ? `${t.address.address}/${t.address.length}` : `${linkLocalFor(t.local)}/64`,
      routes: t.routes.map((p) => `${p.address}/${p.length}`),
      allow: t.allow.map((p) => `${p.address}/${p.length}`),
      mtu: t.mtu,
    };
    return { config: cfg, policy, connection: e?.protect?.connection ?? viaTunnelMode?.connection };
  });
  return { spd, pad, tunnels };
}

/** ::/0 written as a selector means ANY, as RFC 4891 A.3 prints it. */
function anyIfAll(rs: AddrRange[]): AddrRange[] {
  return rs.some((r) => r.start === 0n && r.end === (r.family === 4 ? 0xffffffffn : (1n << 128n) - 1n)) ? [] : rs;
}

/** RFC 4213 §3.7: the link-local address of a tunnel is fe80::/64 with the IPv4 address as interface ID. */
function linkLocalFor(v4: string): string {
  const b = parseIp(v4)!.bytes;
  return `fe80::${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
}

function padEntry(config: Config, conn: Connection, remoteAddrs: AddrRange[]): PadEntry {
  const rid = conn.remote.id;
  const id = rid.type === "any" ? ({ type: ANY_ID_TYPE, any: true } as const) : parseIdentity(identityText(rid.type, rid.value));
  let secret: Uint8Array | undefined;
  if (conn.remote.auth === "psk") {
    const all = Object.values(config.secrets);
    const match = all.find((s) => s.ids.some((i) => i.value === rid.value)) ?? all.find((s) => s.ids.length === 0);
    secret = match?.secret;
  }
  // Child SA authorization (RFC 4301 §4.4.3.2): what the peer's side of each child may cover.
  const childRanges = Object.values(conn.children).flatMap((c) => tsRanges(c.remote_ts, remoteAddrs));
  return { name: conn.name, id, auth: conn.remote.auth, secret, childRanges, gateways: remoteAddrs };
}

function identityText(type: string, value: string): string {
  if (type === "fqdn") return `@${value}`;
  return value;
}

export { prefixRange, parsePrefix };
