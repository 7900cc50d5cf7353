/**
 * Link-layer headers of capture files (https://www.tcpdump.org/linktypes.html): which bytes
 * of a frame are the network-layer packet, and whether it is IPv4 or IPv6.
 */
import type { Layer } from "./layers.js";

export const LINKTYPE_NULL = 0; // BSD loopback: 4-byte address family, host byte order
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101; // IPv4 or IPv6 by the version nibble
export const LINKTYPE_LINUX_SLL = 113; // Linux "cooked" capture v1 (16-byte header)
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276; // Linux "cooked" capture v2 (20-byte header)

export const SUPPORTED_LINKTYPES: Readonly<Record<number, string>> = {
  [LINKTYPE_NULL]: "null",
  [LINKTYPE_ETHERNET]: "eth",
  [LINKTYPE_RAW]: "raw",
  [LINKTYPE_LINUX_SLL]: "sll",
  [LINKTYPE_IPV4]: "ipv4",
  [LINKTYPE_IPV6]: "ipv6",
  [LINKTYPE_LINUX_SLL2]: "sll2",
};

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

export interface LinkResult {
  /** 4, 6, or 0 when the frame does not carry IP (or is too short to tell). */
  ipVersion: 0 | 4 | 6;
  /** Offset of the network-layer packet in the frame. */
  offset: number;
  /** Why nothing was found, when ipVersion is 0. */
  error?: string;
}

const mac = (b: Uint8Array, o: number): string => {
  let s = "";
  for (let i = 0; i < 6; i++) s += (i ? ":" : "") + (b[o + i] < 16 ? "0" : "") + b[o + i].toString(16);
  return s;
};

function byEthertype(t: number, offset: number): LinkResult {
  if (t === ETHERTYPE_IPV4) return { ipVersion: 4, offset };
  if (t === ETHERTYPE_IPV6) return { ipVersion: 6, offset };
  return { ipVersion: 0, offset, error: `ethertype 0x${t.toString(16).padStart(4, "0")} is not IP` };
}

/** Decode the link-layer header of a frame (pushing its layer), and find the IP packet. */
export function decodeLink(linktype: number, b: Uint8Array, layers: Layer[]): LinkResult {
  const n = b.length;
  switch (linktype) {
    case LINKTYPE_RAW: {
      const v = n > 0 ? b[0] >> 4 : 0;
      return v === 4 || v === 6 ? { ipVersion: v, offset: 0 } : { ipVersion: 0, offset: 0, error: `IP version ${v}` };
    }
    case LINKTYPE_IPV4:
      return { ipVersion: 4, offset: 0 };
    case LINKTYPE_IPV6:
      return { ipVersion: 6, offset: 0 };
    case LINKTYPE_ETHERNET: {
      if (n < 14) return { ipVersion: 0, offset: 0, error: "truncated" };
      let t = (b[12] << 8) | b[13];
      let o = 14;
      const vlan: number[] = [];
      while ((t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) && o + 4 <= n) {
        vlan.push(((b[o] << 8) | b[o + 1]) & 0xfff);
        t = (b[o + 2] << 8) | b[o + 3];
        o += 4;
      }
      const fields: Layer["fields"] = { dst: mac(b, 0), src: mac(b, 6), type: t };
      if (vlan.length) fields.vlan = vlan;
      layers.push({ name: "eth", source: 0, offset: 0, length: o, fields });
      return byEthertype(t, o);
    }
    case LINKTYPE_LINUX_SLL: {
      if (n < 16) return { ipVersion: 0, offset: 0, error: "truncated" };
      const alen = Math.min(8, (b[4] << 8) | b[5]);
      const t = (b[14] << 8) | b[15];
      layers.push({
        name: "sll",
        source: 0,
        offset: 0,
        length: 16,
        fields: { packetType: (b[0] << 8) | b[1], arphrd: (b[2] << 8) | b[3], address: hexOf(b, 6, alen), protocol: t },
      });
      return byEthertype(t, 16);
    }
    case LINKTYPE_LINUX_SLL2: {
      if (n < 20) return { ipVersion: 0, offset: 0, error: "truncated" };
      const t = (b[0] << 8) | b[1];
      const alen = Math.min(8, b[11]);
      layers.push({
        name: "sll2",
        source: 0,
        offset: 0,
        length: 20,
        fields: {
          protocol: t,
          ifindex: ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0,
          arphrd: (b[8] << 8) | b[9],
          packetType: b[10],
          address: hexOf(b, 12, alen),
        },
      });
      return byEthertype(t, 20);
    }
    case LINKTYPE_NULL: {
      if (n < 4) return { ipVersion: 0, offset: 0, error: "truncated" };
      // Host byte order of the capturing machine: accept either.
      const le = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
      const be = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
      const af = le > 0 && le < 256 ? le : be;
      layers.push({ name: "null", source: 0, offset: 0, length: 4, fields: { family: af } });
      if (af === 2) return { ipVersion: 4, offset: 4 };
      if (af === 10 || af === 24 || af === 28 || af === 30) return { ipVersion: 6, offset: 4 };
      return { ipVersion: 0, offset: 4, error: `address family ${af} is not IP` };
    }
    default:
      return { ipVersion: 0, offset: 0, error: `unsupported link type ${linktype}` };
  }
}

export function hexOf(b: Uint8Array, o: number, n: number): string {
  let s = "";
  for (let i = o; i < o + n; i++) s += HEX[b[i]];
  return s;
}

export const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
