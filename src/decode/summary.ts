/**
 * One line per packet, in the shape of tshark's default columns:
 *   No.  Time  Source → Destination  Protocol  Length  Info   [verdict]
 * Source and destination are the innermost IP addresses shown (the decrypted IPv6 packet's when
 * the key is known); the protocol and info describe the innermost layer.
 */
import type { DecodedPacket } from "./decoder.js";
import { hex, type FieldValue, type Layer } from "./layers.js";

const PROTO_NAMES: Record<string, string> = {
  ipv4: "IPv4",
  ipv6: "IPv6",
  udp: "UDP",
  tcp: "TCP",
  icmp: "ICMP",
  icmpv6: "ICMPv6",
  esp: "ESP",
  ikev2: "ISAKMP",
  udpencap: "UDPENCAP",
  data: "DATA",
  eth: "ETH",
  sll: "SLL",
  sll2: "SLL",
  null: "NULL",
  "ipv6.hopopts": "IPv6",
  "ipv6.routing": "IPv6",
  "ipv6.fraghdr": "IPv6",
  "ipv6.dstopts": "IPv6",
};

const num = (v: FieldValue | undefined): number => (typeof v === "number" ? v : 0);
const hex4 = (n: number) => `0x${n.toString(16).padStart(4, "0")}`;

function info(l: Layer, layers: Layer[]): string {
  const f = l.fields;
  switch (l.name) {
    case "icmpv6": {
      let ip: Layer | undefined;
      for (let i = layers.length - 1; i >= 0 && !ip; i--) if (layers[i].name === "ipv6") ip = layers[i];
      if (f.type === 128 || f.type === 129) {
        return `${f.typeName} id=${hex4(num(f.id))}, seq=${num(f.seq)}, hop limit=${ip ? num(ip.fields.hopLimit) : 0}`;
      }
      if (f.type === 2) return `Packet Too Big (MTU ${num(f.mtu)})`;
      return String(f.typeName);
    }
    case "udp":
      return `${f.srcPort} → ${f.dstPort} Len=${Math.max(0, num(f.length) - 8)}`;
    case "tcp": {
      const flags = String(f.flagNames ?? "");
      return `${f.srcPort} → ${f.dstPort}${flags ? ` [${flags.replace(/,/g, ", ")}]` : ""} Seq=${f.seq} Ack=${f.ack} Win=${f.window} Len=${f.payloadLength}`;
    }
    case "esp":
      return `ESP (SPI=0x${num(f.spi).toString(16).padStart(8, "0")})${f.icv === "no-key" ? "" : ` seq=${f.seq}`}`;
    case "ikev2": {
      const who = f.initiator ? "Initiator" : "Responder";
      const what = f.response ? "Response" : "Request";
      const mid = num(f.messageId).toString(16).padStart(2, "0");
      return `${f.exchangeName ?? "IKEv2"} MID=${mid} ${who} ${what}`;
    }
    case "udpencap":
      return f.kind === "keepalive" ? "NAT-keepalive" : "non-ESP marker";
    case "ipv4":
      if (f.mf || num(f.fragmentOffset) > 0) return `Fragmented IP protocol (proto=${f.protocol}, off=${f.fragmentOffset}, ID=${hex4(num(f.id))})`;
      return `protocol ${f.protocol}`;
    case "ipv6.fraghdr":
      return `IPv6 fragment (off=${f.fragmentOffset} more=${f.more ? "y" : "n"} ident=0x${num(f.id).toString(16)} nxt=${f.nextHeader})`;
    case "data":
      return `${num(f.length)} bytes${f.protocol !== undefined ? ` (protocol ${f.protocol})` : ""}`;
    default:
      return "";
  }
}

export interface SummaryColumns {
  /** Innermost IP (or Ethernet) source and destination shown; "" when none. */
  src: string;
  dst: string;
  /** Protocol column (tshark's names). */
  proto: string;
  /** Info column. */
  info: string;
}

/** The columns of summarize() that depend on the layers (the page's packet list uses them directly). */
export function summaryColumns(pkt: DecodedPacket): SummaryColumns {
  const layers = pkt.layers;
  let src = "";
  let dst = "";
  for (const l of layers) {
    if (l.name === "ipv4" || l.name === "ipv6") {
      src = String(l.fields.src ?? "");
      dst = String(l.fields.dst ?? "");
    } else if (!src && (l.name === "eth")) {
      src = String(l.fields.src);
      dst = String(l.fields.dst);
    }
  }
  let top = layers[layers.length - 1];
  // The payload bytes of UDP/TCP are not the protocol: show the layer under them.
  if (top && top.name === "data" && layers.length > 1 && ["udp", "tcp", "esp"].includes(layers[layers.length - 2].name)) top = layers[layers.length - 2];
  const proto = top ? (PROTO_NAMES[top.name] ?? top.name.toUpperCase()) : "?";
  return { src, dst, proto, info: top ? info(top, layers) : "" };
}

/** The tshark-like line for one packet; `t0` is the first packet's time (for the relative column). */
export function summarize(pkt: DecodedPacket, t0: number, showVerdict = pkt.verdict !== "ok"): string {
  const { src, dst, proto, info: text } = summaryColumns(pkt);
  const time = (pkt.time - t0).toFixed(6);
  const parts = [String(pkt.frame).padStart(5), time.padStart(11)];
  if (src) parts.push(`${src} → ${dst}`);
  parts.push(proto, String(pkt.originalLength));
  if (text) parts.push(text);
  if (showVerdict) parts.push(` [${pkt.verdict}]`);
  return parts.join(" ");
}

export interface JsonOptions {
  /** Add each layer's place in the bytes: "span": [source, offset, length]. */
  offsets?: boolean;
}

/**
 * The JSON Lines object for one packet: {"frame", "time", "length", "layers": [{"name", …fields}],
 * "verdict"}. Byte fields (ESP iv, payload) become hex; ESP sequence numbers above 2^53 are
 * already decimal strings in the fields.
 */
export function packetJson(pkt: DecodedPacket, options: JsonOptions = {}): Record<string, unknown> {
  return {
    frame: pkt.frame,
    time: pkt.time,
    length: pkt.originalLength,
    layers: pkt.layers.map((l) => {
      const o: Record<string, unknown> = { name: l.name };
      for (const k in l.fields) {
        const v = l.fields[k];
        o[k] = v instanceof Uint8Array ? hex(v) : v;
      }
      if (options.offsets) {
        o.span = [l.source, l.offset, l.length];
        if (l.innerSource !== undefined) o.innerSource = l.innerSource;
      }
      return o;
    }),
    verdict: pkt.verdict,
  };
}
