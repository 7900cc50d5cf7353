/**
 * `encap`: IPv6 packets in, the IPv4 packets an RFC 4891 endpoint sends out for them, through
 * the Dataplane's outbound pipeline (route → MTU → SPD PROTECT → SA → ESP → outer IPv4,
 * optionally UDP-encapsulated per RFC 3948). For crafting test traffic, like scapy's
 * SecurityAssociation, but with the bytes our endpoint would really send.
 */
import { parseIPv4 } from "../addr.js";
import { Dataplane } from "../pipeline.js";
import { newCore } from "../core/wasm.js";
import { DecodeError } from "./errors.js";
import { parseSaSpec, saSpecFirstSeq } from "./keys.js";
import { decodeLink, LINKTYPE_RAW } from "./linktypes.js";
import { readCapture, writePcap } from "./pcap.js";

export interface EncapOptions {
  /** One --sa specification (the outbound SA): spi, enc, key, [esn=high bits], [seq=first]. */
  sa: string;
  tunnel: { local: string; remote: string; mtu?: number };
  /** RFC 3948 UDP encapsulation on port 4500. */
  udp?: boolean;
}

export interface EncapResult {
  /** pcap (LINKTYPE_RAW) of the outer IPv4 packets. */
  pcap: Uint8Array;
  sent: number;
  /** Input frames not sent, and why (not IPv6, packet-too-big, …). */
  skipped: { frame: number; reason: string }[];
}

export async function encapCapture(input: Uint8Array, options: EncapOptions): Promise<EncapResult> {
  const key = parseSaSpec(options.sa, "--sa");
  const first = saSpecFirstSeq(options.sa) + (/(?:^|,)\s*seq=/.test(options.sa) ? 0n : BigInt(key.esnHigh) * 4294967296n);
  if (!key.esn && first > 0xffffffffn) throw new DecodeError("ERR_KEYS", "--sa: seq above 2^32-1 needs esn=");
  const t = options.tunnel;
  if (!parseIPv4(t.local)) throw new DecodeError("ERR_USAGE", `--tunnel local=${t.local} is not an IPv4 address`);
  if (!parseIPv4(t.remote)) throw new DecodeError("ERR_USAGE", `--tunnel remote=${t.remote} is not an IPv4 address`);
  const frames: { number: number; time: number; ipv6: Uint8Array }[] = [];
  const skipped: EncapResult["skipped"] = [];
  for (const fr of readCapture(input)) {
    const link = decodeLink(fr.linktype, fr.data, []);
    const p = fr.data.subarray(link.offset);
    if (link.ipVersion !== 6 || p.length < 40) {
      skipped.push({ frame: fr.number, reason: link.ipVersion === 4 ? "not-ipv6" : (link.error ?? "not-ipv6") });
      continue;
    }
    const len = 40 + ((p[4] << 8) | p[5]);
    if (len > p.length) {
      skipped.push({ frame: fr.number, reason: "truncated" });
      continue;
    }
    frames.push({ number: fr.number, time: fr.time, ipv6: p.subarray(0, len) });
  }
  const dp = new Dataplane(await newCore(), { sas: 4, tunnels: 1 });
  dp.addTunnel({ name: "encap", local: t.local, remote: t.remote, address: "fe80::1/64", routes: ["::/0"], mtu: t.mtu ?? 1280 }, "protect");
  const sa = dp.esp.addOutbound({
    spi: key.spi.value,
    keymat: key.keymat,
    algorithm: key.algorithm,
    icvLength: key.icvLength,
    esn: key.esn,
    encap: options.udp ? { sourcePort: 4500, destinationPort: 4500 } : undefined,
  });
  dp.esp.setSequence(sa, first - 1n);
  dp.bindSa(sa, "encap");
  const maxLen = frames.reduce((m, f) => Math.max(m, f.ipv6.length), 0);
  const batch = dp.createBatch({ packets: 64, slotBytes: Math.max(2048, maxLen + 64 + 300 + 28) });
  const out: { data: Uint8Array; time: number }[] = [];
  try {
    for (let i = 0; i < frames.length; i += 64) {
      const chunk = frames.slice(i, i + 64);
      batch.clear();
      for (const f of chunk) batch.addPacket(f.ipv6);
      dp.outbound(batch);
      chunk.forEach((f, k) => {
        const v = batch.verdict(k);
        if (v === "send") out.push({ data: batch.output(k).slice(), time: f.time });
        else skipped.push({ frame: f.number, reason: v === "dropped" ? batch.reason(k) : v });
      });
    }
  } finally {
    batch.destroy();
    dp.removeSa(sa);
  }
  return { pcap: writePcap(out, LINKTYPE_RAW), sent: out.length, skipped };
}
