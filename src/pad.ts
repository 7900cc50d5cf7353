/**
 * The Peer Authorization Database (RFC 4301 §4.4.3): the link between IKE and the SPD. Each
 * entry names a peer by the identity it asserts in IKE_AUTH, says how it must authenticate,
 * and bounds what CHILD_SAs it may ask for. RFC 4891 §5.2: IPv4-address identities at least,
 * pre-shared keys at least, and the child SA authorization data holds the peer's IPv4 address.
 */
import { type AddrRange, type Family, inRange, parseIp, toBig } from "./addr.js";
import { fail } from "./errors.js";

/** RFC 7296 §3.5 identification types. */
export const ID_TYPE = { IPV4_ADDR: 1, FQDN: 2, RFC822_ADDR: 3, IPV6_ADDR: 5, DER_ASN1_DN: 9, KEY_ID: 11 } as const;
export type IdType = (typeof ID_TYPE)[keyof typeof ID_TYPE];
/** With `any: true`: an identity of any type (strongSwan's %any). */
export const ANY_ID_TYPE = 0;

export interface Identity {
  type: IdType;
  /** Address bytes for IPv4/IPv6, UTF-8 bytes for FQDN/RFC822, raw bytes otherwise. */
  data: Uint8Array;
}

export type AuthMethod = "psk" | "pubkey";

export interface PadEntry {
  name: string;
  /** The identity the peer must assert; `any: true` matches every identity of `type`. */
  id: Identity | { type: IdType | typeof ANY_ID_TYPE; any: true };
  auth: AuthMethod;
  /** For "psk": the shared secret (never logged). */
  secret?: Uint8Array;
  /** Child SA authorization (RFC 4301 §4.4.3.2): traffic-selector ranges the peer may claim. */
  childRanges: AddrRange[];
  /** Addresses the peer's IKE may come from (gateway location); empty = any. */
  gateways: AddrRange[];
}

/** Parse strongSwan-style identity text: an IP address, `@fqdn`, `user@domain`, or an FQDN. */
export function parseIdentity(s: string): Identity {
  const enc = new TextEncoder();
  const ip = parseIp(s);
  if (ip) return { type: ip.family === 4 ? ID_TYPE.IPV4_ADDR : ID_TYPE.IPV6_ADDR, data: ip.bytes };
  if (s.startsWith("@#")) {
    const hex = s.slice(2);
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) fail("ERR_CONFIG", `identity '${s}': @# needs hex bytes`);
    return { type: ID_TYPE.KEY_ID, data: Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16))) };
  }
  if (s.startsWith("@")) return { type: ID_TYPE.FQDN, data: enc.encode(s.slice(1)) };
  if (s.includes("@")) return { type: ID_TYPE.RFC822_ADDR, data: enc.encode(s) };
  if (s.includes("=")) return { type: ID_TYPE.DER_ASN1_DN, data: enc.encode(s) };
  if (/^[A-Za-z0-9.-]+$/.test(s) && s.includes(".")) return { type: ID_TYPE.FQDN, data: enc.encode(s) };
  return fail("ERR_CONFIG", `identity '${s}' is not an address, FQDN, email or DN`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function idMatches(want: PadEntry["id"], got: Identity): boolean {
  if ("any" in want) return want.type === ANY_ID_TYPE || want.type === got.type;
  if (want.type !== got.type) return false;
  if (got.type === ID_TYPE.FQDN) {
    // RFC 7296 §3.5: FQDNs compare case-insensitively.
    const d = new TextDecoder();
    return d.decode(want.data).toLowerCase() === d.decode(got.data).toLowerCase();
  }
  return sameBytes(want.data, got.data);
}

export class Pad {
  private list: PadEntry[] = [];

  constructor(entries: PadEntry[] = []) {
    for (const e of entries) this.add(e);
  }

  get entries(): readonly PadEntry[] {
    return this.list;
  }

  add(e: PadEntry): void {
    if (this.list.some((x) => x.name === e.name)) fail("ERR_CONFIG", `PAD entry '${e.name}' exists already`);
    if (e.auth !== "psk" && e.auth !== "pubkey") fail("ERR_CONFIG", `PAD entry '${e.name}': auth must be psk or pubkey`);
    if (e.auth === "psk" && !(e.secret instanceof Uint8Array && e.secret.length > 0)) {
      fail("ERR_CONFIG", `PAD entry '${e.name}': psk authentication needs a secret`);
    }
    this.list.push(e);
  }

  /**
   * RFC 4301 §4.4.3.1: find the entry for an asserted identity, optionally checking the
   * address the IKE message came from against the entry's gateways. Ordered: first match.
   */
  lookup(id: Identity, from?: { family: Family; bytes: Uint8Array }): PadEntry | undefined {
    return this.list.find(
      (e) =>
        idMatches(e.id, id) &&
        (from === undefined || e.gateways.length === 0 || e.gateways.some((g) => inRange(g, from.family, toBig(from.bytes)))),
    );
  }

  /**
   * RFC 4301 §4.4.3.2: may this peer negotiate a CHILD_SA whose traffic selectors (as the
   * peer's side) cover these ranges? Each must lie inside one of the authorized ranges.
   */
  authorizeChild(e: PadEntry, ranges: AddrRange[]): boolean {
    if (e.childRanges.length === 0) return false;
    return ranges.every((r) => e.childRanges.some((a) => a.family === r.family && r.start >= a.start && r.end <= a.end));
  }

  /** Never print secrets. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Pad { ${this.list.map((e) => `${e.name}: ${e.auth}`).join(", ")} }`;
  }
}
