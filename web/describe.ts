/**
 * Words for the page: layer titles, field labels and values (Wireshark's wording where it has
 * one), verdict classes, and the packet layout of RFC 4891 Table 1 (IPv4 | ESP | IPv6 |
 * payload | trailer | ICV) with byte offsets. Pure functions, no DOM.
 */
import type { FieldValue, Layer, Span } from "../src/decode/layers.js";
import type { PacketDetail } from "./protocol.js";

/** Colour class of a verdict. */
export function verdictClass(v: string): "good" | "bad" | "drop" | "nokey" | "info" {
  if (v === "ok" || v === "accept") return "good";
  if (v === "integrity-failure") return "bad";
  if (v === "no-key") return "nokey";
  if (v === "outbound" || v === "fragment" || v === "not-tunnel") return "info";
  return "drop";
}

export const PROTOCOLS: Record<number, string> = {
  0: "IPv6 Hop-by-Hop", 1: "ICMP", 4: "IPv4", 6: "TCP", 17: "UDP", 41: "IPv6", 43: "IPv6 Routing", 44: "IPv6 Fragment",
  50: "ESP", 51: "AH", 58: "ICMPv6", 59: "No Next Header", 60: "IPv6 Destination Options",
};
const proto = (n: number) => `${PROTOCOLS[n] ?? "Unknown"} (${n})`;
const hx = (n: number, w: number) => `0x${n.toString(16).padStart(w, "0")}`;
const num = (v: FieldValue | undefined) => (typeof v === "number" ? v : 0);

export const LINKTYPES: Record<number, string> = { 0: "NULL (BSD loopback)", 1: "Ethernet", 101: "Raw IP", 113: "Linux cooked (SLL)", 228: "Raw IPv4", 229: "Raw IPv6", 276: "Linux cooked v2 (SLL2)" };

/** Short protocol name of a layer (layout boxes, tags). */
export const SHORT: Record<string, string> = {
  eth: "Ethernet", sll: "SLL", sll2: "SLL2", null: "Loopback", ipv4: "IPv4", udp: "UDP", udpencap: "UDP-encap", esp: "ESP",
  ipv6: "IPv6", "ipv6.hopopts": "Hop-by-Hop", "ipv6.routing": "Routing", "ipv6.fraghdr": "Fragment", "ipv6.dstopts": "Dest Opts",
  icmpv6: "ICMPv6", tcp: "TCP", icmp: "ICMP", ikev2: "IKEv2", data: "Data",
};

/** The one-line title of a layer in the tree. */
export function layerTitle(l: Layer): string {
  const f = l.fields;
  switch (l.name) {
    case "eth": return `Ethernet II, Src: ${f.src}, Dst: ${f.dst}`;
    case "sll": case "sll2": return "Linux cooked capture";
    case "null": return "Null/Loopback";
    case "ipv4": return `Internet Protocol Version 4, Src: ${f.src}, Dst: ${f.dst}`;
    case "udp": return `User Datagram Protocol, Src Port: ${f.srcPort}, Dst Port: ${f.dstPort}`;
    case "udpencap": return `UDP Encapsulation of IPsec Packets (${f.kind === "keepalive" ? "NAT-keepalive" : "non-ESP marker"})`;
    case "esp": return `Encapsulating Security Payload, SPI: ${hx(num(f.spi), 8)}${f.seq !== undefined ? `, Seq: ${f.seq}` : ""}`;
    case "ipv6": return `Internet Protocol Version 6, Src: ${f.src ?? "?"}, Dst: ${f.dst ?? "?"}`;
    case "ipv6.hopopts": return "IPv6 Hop-by-Hop Option";
    case "ipv6.routing": return `Routing Header for IPv6 (Type ${f.routingType})`;
    case "ipv6.fraghdr": return `Fragment Header for IPv6 (offset ${f.fragmentOffset}${f.more ? ", more" : ""})`;
    case "ipv6.dstopts": return "Destination Options for IPv6";
    case "icmpv6": return `Internet Control Message Protocol v6, ${f.typeName}`;
    case "icmp": return `Internet Control Message Protocol, Type ${f.type}, Code ${f.code}`;
    case "tcp": return `Transmission Control Protocol, Src Port: ${f.srcPort}, Dst Port: ${f.dstPort}, Seq: ${f.seq}, Len: ${f.payloadLength}`;
    case "ikev2": return `Internet Key Exchange Version 2, ${f.exchangeName ?? "?"} ${f.initiator ? "Initiator" : "Responder"} ${f.response ? "Response" : "Request"}, MID ${f.messageId}`;
    case "data": return `Data (${f.length} bytes)`;
    default: return l.name;
  }
}

const LABELS: Record<string, Record<string, string>> = {
  "*": {
    src: "Source Address", dst: "Destination Address", version: "Version", nextHeader: "Next Header", checksum: "Checksum",
    checksumOk: "Checksum Status", length: "Length", srcPort: "Source Port", dstPort: "Destination Port", payloadLength: "Payload Length",
  },
  eth: { src: "Source", dst: "Destination", type: "Type" },
  ipv4: {
    headerLength: "Header Length", dscp: "Differentiated Services Codepoint", ecn: "Explicit Congestion Notification", totalLength: "Total Length",
    id: "Identification", df: "Don't fragment", mf: "More fragments", fragmentOffset: "Fragment Offset", ttl: "Time to Live", protocol: "Protocol",
    checksum: "Header Checksum", checksumOk: "Header Checksum Status", reassembled: "Reassembled",
  },
  udp: { length: "Length" },
  udpencap: { kind: "Kind" },
  esp: {
    spi: "ESP SPI", seq: "ESP Sequence", seqHigh: "ESN high bits", iv: "IV", algorithm: "Algorithm", icvLength: "ICV Length", icv: "ICV",
    payload: "Payload (decrypted)", padding: "Padding", padLength: "Pad Length", nextHeader: "Next Header", payloadLength: "Payload Length",
  },
  ipv6: { trafficClass: "Traffic Class", flowLabel: "Flow Label", hopLimit: "Hop Limit", payloadLength: "Payload Length" },
  icmpv6: { type: "Type", typeName: "Type Name", code: "Code", id: "Identifier", seq: "Sequence", dataLength: "Data Length", mtu: "MTU" },
  tcp: {
    seq: "Sequence Number", ack: "Acknowledgment Number", headerLength: "Header Length", flags: "Flags", flagNames: "Flag Names",
    window: "Window", urgentPointer: "Urgent Pointer", payloadLength: "TCP Segment Len",
  },
  ikev2: {
    initiatorSpi: "Initiator SPI", responderSpi: "Responder SPI", nextPayload: "Next Payload", exchangeType: "Exchange Type", exchangeName: "Exchange",
    flags: "Flags", initiator: "Initiator", response: "Response", messageId: "Message ID", length: "Length", payloads: "Payloads", decrypted: "Decrypted payloads",
    icv: "Integrity Checksum", error: "Error",
  },
  data: { length: "Length", protocol: "Protocol" },
};

export function fieldLabel(layer: string, key: string): string {
  return LABELS[layer]?.[key] ?? LABELS["*"][key] ?? key.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());
}

export function bytesHex(b: Uint8Array, max = 32): string {
  let s = "";
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i].toString(16).padStart(2, "0");
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}

/** A field's value as text, and a class (good/bad/warn) for statuses. */
export function fieldValue(layer: string, key: string, v: FieldValue): { text: string; cls?: string } {
  if (v instanceof Uint8Array) return { text: bytesHex(v) };
  if (key === "checksumOk") return v ? { text: "Good", cls: "good" } : { text: "Bad", cls: "bad" };
  if (layer === "esp" && key === "icv") {
    return v === "ok" ? { text: "verified", cls: "good" } : v === "bad" ? { text: "FAILED (integrity check)", cls: "bad" } : { text: "not checked: no key for this SA", cls: "warn" };
  }
  if (layer === "ikev2" && key === "icv") return v === "ok" ? { text: "verified", cls: "good" } : v === "bad" ? { text: "FAILED", cls: "bad" } : { text: String(v), cls: "warn" };
  if (typeof v === "number") {
    if (key === "spi") return { text: `${hx(v, 8)} (${v})` };
    if (key === "checksum") return { text: hx(v, 4) };
    if ((layer === "ipv4" || layer === "ipv6.fraghdr") && key === "id") return { text: `${hx(v, 4)} (${v})` };
    if (key === "protocol" || key === "nextHeader") return { text: proto(v) };
    if (key === "flowLabel") return { text: hx(v, 5) };
    if (key === "trafficClass" || key === "dscp" || (layer === "ikev2" && key === "flags")) return { text: hx(v, 2) };
    if (layer === "tcp" && key === "flags") return { text: hx(v, 3) };
    if (key === "headerLength") return { text: `${v} bytes` };
    if (key === "icvLength" || key === "padLength" || key === "payloadLength" || key === "length" || key === "totalLength") return { text: `${v}` };
    return { text: String(v) };
  }
  if (typeof v === "boolean") return { text: layer === "ipv4" && (key === "df" || key === "mf") ? (v ? "Set" : "Not set") : v ? "True" : "False" };
  if (v === null) return { text: "—" };
  if (typeof v === "string") return { text: v };
  return { text: Array.isArray(v) ? `${v.length} item${v.length === 1 ? "" : "s"}` : "" };
}

// ---- layout ----

export interface Box {
  /** Label, e.g. IPv4, ESP, IV, IPv6, ICMPv6, trailer, ICV. */
  label: string;
  kind: "outer" | "esp" | "inner" | "payload" | "trailer" | "icv" | "enc";
  /** Offset and length in the drawing's base source (the bytes on the wire). */
  offset: number;
  length: number;
  /** The bytes to highlight when the box is clicked (decrypted boxes: in the decrypted source). */
  span: Span;
  /** Index of the layer the box belongs to, if any. */
  layer?: number;
  bad?: boolean;
}

export interface Layout {
  /** The source the offsets are in (0: the frame; else the reassembled datagram). */
  base: number;
  boxes: Box[];
  end: number;
  /** RFC 4303 §2: the encrypted part and the part the ICV covers, in base offsets. */
  encrypted?: [number, number];
  integrity?: [number, number];
}

const HEADER: Record<string, (l: Layer) => number> = {
  ipv4: (l) => num(l.fields.headerLength),
  udp: () => 8,
  ipv6: () => 40,
  "ipv6.hopopts": (l) => num(l.fields.length),
  "ipv6.routing": (l) => num(l.fields.length),
  "ipv6.fraghdr": () => 8,
  "ipv6.dstopts": (l) => num(l.fields.length),
};
const PAYLOADS = new Set(["icmpv6", "tcp", "icmp", "ikev2", "data"]);

/**
 * The packet's parts on the wire: every layer's header in the base source, then for ESP its
 * header, IV, the decrypted inner packet mapped back onto the ciphertext (which has the same
 * length: RFC 4106 and RFC 7634 are counter modes), the trailer (padding, pad length, next
 * header) and the ICV. Without a key, the ciphertext is one box.
 */
export function packetLayout(p: PacketDetail): Layout {
  const layers = p.layers;
  const espIdx = layers.findIndex((l) => l.name === "esp");
  let base = 0;
  if (espIdx >= 0) base = layers[espIdx].source;
  else {
    const v4 = layers.filter((l) => l.name === "ipv4");
    if (v4.length) base = v4[v4.length - 1].source;
  }
  const boxes: Box[] = [];
  const out: Layout = { base, boxes, end: p.sources[base]?.length ?? 0 };
  const baseIdx = layers.map((l, i) => i).filter((i) => layers[i].source === base);
  const push = (label: string, kind: Box["kind"], offset: number, length: number, span: Span, layer?: number, bad?: boolean) => {
    if (length > 0) boxes.push({ label, kind, offset, length, span, layer, bad });
  };
  for (let k = 0; k < baseIdx.length; k++) {
    const i = baseIdx[k];
    const l = layers[i];
    if (l.name === "esp") {
      espBoxes(p, i, push, out);
      break;
    }
    const nextOff = k + 1 < baseIdx.length ? layers[baseIdx[k + 1]].offset : l.offset + l.length;
    const hdr = HEADER[l.name];
    let end = nextOff;
    if (k + 1 >= baseIdx.length && hdr) end = Math.min(l.offset + l.length, l.offset + hdr(l)); // header then the rest as payload
    const kind = PAYLOADS.has(l.name) ? "payload" : "outer";
    push(l.name === "data" ? "payload" : SHORT[l.name] ?? l.name, kind, l.offset, end - l.offset, { source: base, offset: l.offset, length: end - l.offset }, i);
    if (end < l.offset + l.length && k + 1 >= baseIdx.length) {
      const e = l.offset + l.length;
      push("payload", "payload", end, e - end, { source: base, offset: end, length: e - end }, i);
    }
  }
  return out;
}

function espBoxes(p: PacketDetail, i: number, push: (label: string, kind: Box["kind"], offset: number, length: number, span: Span, layer?: number, bad?: boolean) => void, out: Layout): void {
  const layers = p.layers;
  const esp = layers[i];
  const f = esp.fields;
  const base = esp.source;
  const o = esp.offset;
  const end = o + esp.length;
  const icv = num(f.icvLength);
  push("ESP", "esp", o, Math.min(8, esp.length), { source: base, offset: o, length: Math.min(8, esp.length) }, i);
  if (esp.length <= 8) return;
  if (!f.algorithm) {
    // No key: what follows the header cannot be split.
    push("encrypted", "enc", o + 8, end - o - 8, { source: base, offset: o + 8, length: end - o - 8 }, i);
    return;
  }
  push("IV", "esp", o + 8, 8, { source: base, offset: o + 8, length: 8 }, i);
  const bodyEnd = end - icv;
  out.encrypted = [o + 16, bodyEnd];
  out.integrity = [o, bodyEnd];
  const s = esp.innerSource;
  if (s === undefined || typeof f.payloadLength !== "number" || typeof f.padLength !== "number") {
    push("encrypted", "enc", o + 16, bodyEnd - o - 16, { source: base, offset: o + 16, length: bodyEnd - o - 16 }, i);
  } else {
    const at = (x: number) => o + 16 + x;
    const pl = f.payloadLength;
    const inner = layers.map((_, j) => j).filter((j) => layers[j].source === s);
    if (inner.length === 0 && pl > 0) push("payload", "payload", at(0), pl, { source: s, offset: 0, length: pl }, i);
    for (let k = 0; k < inner.length; k++) {
      const j = inner[k];
      const l = layers[j];
      const next = k + 1 < inner.length ? layers[inner[k + 1]].offset : Math.min(pl, l.offset + l.length);
      const isPay = PAYLOADS.has(l.name);
      const hdr = HEADER[l.name];
      let stop = next;
      if (k + 1 >= inner.length && hdr && !isPay) stop = Math.min(next, l.offset + hdr(l));
      push(l.name === "data" ? "payload" : SHORT[l.name] ?? l.name, isPay ? "payload" : "inner", at(l.offset), stop - l.offset, { source: s, offset: l.offset, length: stop - l.offset }, j);
      if (stop < next) push("payload", "payload", at(stop), next - stop, { source: s, offset: stop, length: next - stop }, j);
    }
    const tl = num(f.padLength) + 2;
    push("trailer", "trailer", at(pl), tl, { source: s, offset: pl, length: tl }, i);
  }
  push("ICV", "icv", bodyEnd, icv, { source: base, offset: bodyEnd, length: icv }, i, f.icv === "bad");
}
