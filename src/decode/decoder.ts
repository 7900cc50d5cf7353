/**
 * The one decode core: capture frames in, per frame its layers and a verdict out. Used by the
 * CLI (`ipsec6in4 decode`) and the browser page; no Node imports.
 *
 * Per frame (front, in TypeScript, no crypto):
 *   1. link layer (linktypes.ts) → IPv4 (or IPv6, decoded and left alone)
 *   2. outer IPv4 fragments into the Reassembler; the frame completing a datagram carries it
 *      as a second byte source ("reassembled")
 *   3. IPv4 → ESP (50) | UDP → 500 IKEv2, 4500 keepalive / non-ESP marker + IKEv2 / ESP
 *      (RFC 3948) | 41 clear-text IPv6 | ICMP
 *   4. ESP: the key for (source, destination, SPI), the first match of the KeyStore; its SA is
 *      installed on first use in a wasm Esp with replay checking off (window 0: a decoder shows
 *      retransmissions too) but ESN high bits inferred packet by packet as a receiver does
 *      (RFC 4303 A2.2), starting from the key's initial high bits; the packet is queued in a
 *      batch in wasm memory
 *   5. with a tunnel: the whole outer datagram is queued for the Dataplane's inbound pipeline,
 *      whose SAs (those addressed to the local endpoint) keep a real replay window
 * Per batch (one wasm call per batch and lane): Esp.unprotect; Dataplane.inbound.
 * Per frame (back): decrypted plaintext copied out as a byte source ("decrypted"), inner
 * IPv6 and upper layers parsed from it; a packet whose ICV failed is still decrypted for
 * display (the keystream only, which GCM and ChaCha20 share between seal and open) and
 * marked icv "bad"; the verdict: "ok" or the decode error, or with a tunnel "accept" or the
 * pipeline's drop reason.
 *
 * Frames are processed in order and yielded in order; batches are flushed whenever one is full
 * or holds an oversized packet, so an SA's packets always reach wasm in capture order.
 */
import { DROP_REASONS, Esp, type EspBatch, type SaHandle } from "../esp.js";
import { Dataplane, type PipelineBatch } from "../pipeline.js";
import { Reassembler } from "../reassembly.js";
import { newCore, scratch } from "../core/wasm.js";
import { DecodeError } from "./errors.js";
import { parseIkev2, type IkeKeysTable } from "./ikev2.js";
import { KeyStore, type EspKey } from "./keys.js";
import { decodeLink } from "./linktypes.js";
import { IPPROTO, parseIcmp, parseIpv4, parseIpv6, parseUdp, view, type Layer, type Ipv4Header } from "./layers.js";
import { readCapture, type CaptureFrame } from "./pcap.js";
import { parseIPv4, parsePrefix } from "../addr.js";

export interface TunnelSpec {
  /** Our IPv4 endpoint (packets to it are judged as this endpoint's inbound pipeline would). */
  local: string;
  /** The peer's IPv4 endpoint. */
  remote: string;
  /** Inner IPv6 source prefixes accepted from the peer (ingress filtering, RFC 4891 §5.1). */
  allow: string[];
  /** What the SPD says for protocol 41 between the endpoints (default "protect"). */
  policy?: "protect" | "bypass";
  /** Replay window of the endpoint's inbound SAs (default 1024). */
  replayWindow?: number;
}

export interface DecodeOptions {
  /** ESP keys (esp_sa files and --sa specs). */
  keys?: KeyStore;
  /** IKEv2 keys as the IKE codec's parseIkev2DecryptionTable returns them. */
  ikeKeys?: unknown[];
  /** Judge packets as the inbound pipeline of this tunnel's endpoint would. */
  tunnel?: TunnelSpec;
  /**
   * Packets per wasm batch (default 32). Small on purpose: a batch's decoded packets are alive
   * until it is flushed, and when V8 happens to scavenge while that is most of what its young
   * generation holds, it pretenures those allocation sites for the rest of the process, which
   * then decodes at about half speed (measured: 256 → one process in three in that mode; 32 →
   * none of 13).
   */
  batchSize?: number;
}

export type Verdict = string;

export interface DecodedPacket {
  /** 1-based frame number. */
  frame: number;
  /** Seconds since the epoch. */
  time: number;
  linktype: number;
  capturedLength: number;
  originalLength: number;
  layers: Layer[];
  /**
   * Without a tunnel: "ok" or the decode error ("no-key", "integrity-failure", "bad-padding",
   * "truncated", "bad-ipv4", "bad-udp", "bad-ipv6", "not-ip", "unsupported-linktype", …).
   * With a tunnel: "accept" (delivered, or IKE / keepalive taken), a drop reason of the inbound
   * pipeline (src/esp.ts DROP_REASONS), "outbound" (sent by the local endpoint: not judged),
   * "fragment" (held for reassembly), "not-tunnel" (nothing the tunnel endpoint takes).
   */
  verdict: Verdict;
  /** Byte buffers the layers point into: [0] is the frame; then reassembled or decrypted bytes. */
  sources: Uint8Array[];
  /** "frame", "reassembled", "decrypted" — one per source. */
  sourceNames: string[];
  /** Frames whose fragments make up this frame's reassembled datagram. */
  fragments?: number[];
}

const SLOT = 2048; // bytes per batch slot: most packets; bigger ones go alone through a big batch
const HEADROOM = 64; // ESP_SLOT_HEADROOM
const BIG_SLOT = 65536 + 1024;
const ESP_HEADROOM = 16; // SPI ‖ seq ‖ IV (RFC 4303 §2, RFC 4106 §3.1, RFC 7634 §2, RFC 4543 §3.1)
const E_SEQ_LO = 8;
const E_SEQ_HI = 9;
const ROW = 12;
const PLAIN_CHUNK = 64 * 1024; // bytes per shared plaintext buffer (plainBytes)

interface Lane {
  esp: Esp;
  small: EspBatch;
  big: EspBatch | undefined;
  spis: Set<number>;
}

interface Binding {
  key: EspKey;
  lane: Lane;
  sa: SaHandle;
  started: boolean;
}

interface EspJob {
  batch: EspBatch;
  index: number;
  binding: Binding;
  layer: Layer;
  /** The ESP packet as captured is buf[off..off+length) (for display decryption after an ICV failure). */
  buf: Uint8Array;
  off: number;
  length: number;
}

interface Job {
  pkt: DecodedPacket;
  esp?: EspJob;
  pipe?: { batch: PipelineBatch; index: number };
  /** Decode verdict decided in front (kept unless the back changes it). */
  verdict: string;
}

export interface DecoderStats {
  frames: number;
  espDecrypted: number;
  espNoKey: number;
  verdicts: Record<string, number>;
}

export class Decoder {
  readonly keys: KeyStore;
  readonly stats: DecoderStats = { frames: 0, espDecrypted: 0, espNoKey: 0, verdicts: {} };
  private readonly lanes: Lane[];
  private readonly bindings = new Map<EspKey, Map<number, Binding>>();
  private readonly reasm = new Reassembler();
  private readonly fragFrames = new Map<string, number[]>();
  private readonly ike: IkeKeysTable | undefined;
  private readonly dp: Dataplane | undefined;
  private readonly tunnel: { spec: TunnelSpec; local: string; remote: string; small: PipelineBatch; big: PipelineBatch | undefined } | undefined;
  private readonly dpSas = new Map<number, { sa: SaHandle; key: EspKey; started: boolean } | null>();
  private readonly batchSize: number;
  private jobs: Job[] = [];
  private readonly ctrCtx = new Map<EspKey, number>();
  /** Where decrypted plaintexts are copied: one buffer shared by many packets (see plainBytes). */
  private plainChunk = new Uint8Array(0);
  private plainUsed = 0;

  /** @internal use createDecoder */
  constructor(lanes: Lane[], options: DecodeOptions, dp: Dataplane | undefined) {
    this.keys = options.keys ?? new KeyStore();
    this.lanes = lanes;
    this.batchSize = lanes[0].small.capacity;
    this.ike = options.ikeKeys ? { keys: options.ikeKeys } : undefined;
    this.dp = dp;
    if (dp && options.tunnel) {
      this.tunnel = {
        spec: options.tunnel,
        local: options.tunnel.local,
        remote: options.tunnel.remote,
        small: dp.createBatch({ packets: this.batchSize, slotBytes: SLOT }),
        big: undefined,
      };
    }
  }

  /** Decode a whole pcap or pcapng file. */
  decodeCapture(file: Uint8Array): Generator<DecodedPacket> {
    return this.decode(readCapture(file));
  }

  /** Decode frames in order; packets come out in the same order. */
  *decode(frames: Iterable<CaptureFrame>): Generator<DecodedPacket> {
    for (const fr of frames) {
      if (this.mustFlush()) {
        const done = this.flush();
        for (let i = 0; i < done.length; i++) yield done[i];
      }
      this.front(fr);
    }
    const done = this.flush();
    for (let i = 0; i < done.length; i++) yield done[i];
  }

  private mustFlush(): boolean {
    if (this.jobs.length >= this.batchSize) return true;
    for (const l of this.lanes) if (l.small.length >= l.small.capacity || (l.big && l.big.length > 0)) return true;
    const t = this.tunnel;
    return !!t && (t.small.length >= t.small.capacity || (!!t.big && t.big.length > 0));
  }

  /** Run the queued batches and finish their packets (returned in order). */
  private flush(): DecodedPacket[] {
    for (const l of this.lanes) {
      if (l.small.length) l.esp.unprotect(l.small);
      if (l.big?.length) l.esp.unprotect(l.big);
    }
    const t = this.tunnel;
    if (t && this.dp) {
      if (t.small.length) this.dp.inbound(t.small);
      if (t.big?.length) this.dp.inbound(t.big);
    }
    const jobs = this.jobs;
    this.jobs = [];
    const out: DecodedPacket[] = new Array(jobs.length);
    const verdicts = this.stats.verdicts;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      this.back(j);
      verdicts[j.pkt.verdict] = (verdicts[j.pkt.verdict] ?? 0) + 1;
      out[i] = j.pkt;
    }
    this.stats.frames += jobs.length;
    for (const l of this.lanes) {
      if (l.small.length) l.small.clear();
      if (l.big?.length) l.big.clear();
    }
    if (t) {
      if (t.small.length) t.small.clear();
      if (t.big?.length) t.big.clear();
    }
    return out;
  }

  // ---- front: link, IP, UDP, ESP header; queue crypto and pipeline work ----

  private front(fr: CaptureFrame): void {
    const data = fr.data;
    const pkt: DecodedPacket = {
      frame: fr.number,
      time: fr.time,
      linktype: fr.linktype,
      capturedLength: data.length,
      originalLength: fr.originalLength,
      layers: [],
      verdict: "ok",
      sources: [data],
      sourceNames: ["frame"],
    };
    const job: Job = { pkt, verdict: "ok" };
    this.jobs.push(job);
    const layers = pkt.layers;
    const link = decodeLink(fr.linktype, data, layers);
    if (link.ipVersion === 0) {
      job.verdict = this.tunnel ? "not-tunnel" : link.error?.startsWith("unsupported link type") ? "unsupported-linktype" : link.error === "truncated" ? "truncated" : "not-ip";
      return;
    }
    if (link.ipVersion === 6) {
      const e = parseIpv6(data, 0, link.offset, data.length, layers);
      job.verdict = this.tunnel ? "not-tunnel" : e || "ok";
      return;
    }
    const h = parseIpv4(data, 0, link.offset, data.length, layers);
    if (typeof h === "string") {
      job.verdict = h;
      return;
    }
    let buf = data;
    let src = 0;
    let ipOff = link.offset;
    let hdr: Ipv4Header = h;
    if (h.fragment) {
      // RFC 791 reassembly; the frame that completes the datagram shows it whole.
      const ipv4 = data.subarray(ipOff, ipOff + h.totalLength);
      const key = `${h.src}>${h.dst}/${h.protocol}#${(ipv4[4] << 8) | ipv4[5]}`;
      const frames = this.fragFrames.get(key) ?? [];
      frames.push(fr.number);
      this.fragFrames.set(key, frames);
      const r = this.reasm.push(ipv4, fr.time * 1000);
      if (r.status === "pending") {
        job.verdict = this.tunnel ? "fragment" : "ok";
        return;
      }
      this.fragFrames.delete(key);
      if (r.status === "dropped") {
        job.verdict = `fragment-${r.reason}`;
        return;
      }
      buf = r.packet;
      src = pkt.sources.push(buf) - 1;
      pkt.sourceNames.push("reassembled");
      pkt.fragments = frames;
      ipOff = 0;
      const h2 = parseIpv4(buf, src, 0, buf.length, layers);
      if (typeof h2 === "string") {
        job.verdict = h2;
        return;
      }
      layers[layers.length - 1].fields.reassembled = true;
      hdr = h2;
    }
    const t = this.tunnel;
    if (t) {
      if (hdr.src === t.local) {
        job.verdict = "outbound";
      } else {
        job.pipe = this.queuePipeline(buf.subarray(ipOff, ipOff + hdr.totalLength), hdr);
      }
    }
    this.ipv4Upper(job, buf, src, ipOff + hdr.headerLength, ipOff + hdr.totalLength, hdr);
  }

  private ipv4Upper(job: Job, b: Uint8Array, src: number, off: number, end: number, hdr: Ipv4Header): void {
    const layers = job.pkt.layers;
    switch (hdr.protocol) {
      case IPPROTO.ESP:
        this.esp(job, b, src, off, end, hdr);
        return;
      case IPPROTO.UDP: {
        const r = parseUdp(b, src, off, end, layers);
        if (typeof r === "string") {
          this.setDecodeVerdict(job, r);
          return;
        }
        const sport = (b[off] << 8) | b[off + 1];
        const dport = (b[off + 2] << 8) | b[off + 3];
        const p = off + 8;
        const pend = p + r;
        if (dport === 4500 || sport === 4500) {
          // RFC 3948 §2.3: a one-byte 0xff payload is a NAT-keepalive.
          if (r === 1 && b[p] === 0xff) {
            layers.push({ name: "udpencap", source: src, offset: p, length: 1, fields: { kind: "keepalive" } });
            return;
          }
          // §2.2: four zero bytes (where an SPI would be) mark an IKE message.
          if (r >= 4 && b[p] === 0 && b[p + 1] === 0 && b[p + 2] === 0 && b[p + 3] === 0) {
            layers.push({ name: "udpencap", source: src, offset: p, length: 4, fields: { kind: "non-esp-marker" } });
            this.setDecodeVerdict(job, parseIkev2(b, src, p + 4, pend, layers, this.ike));
            return;
          }
          this.esp(job, b, src, p, pend, hdr);
          return;
        }
        if (dport === 500 || sport === 500) {
          this.setDecodeVerdict(job, parseIkev2(b, src, p, pend, layers, this.ike));
          return;
        }
        if (r > 0) layers.push({ name: "data", source: src, offset: p, length: r, fields: { length: r } });
        return;
      }
      case IPPROTO.IPV6:
        this.setDecodeVerdict(job, parseIpv6(b, src, off, end, layers));
        return;
      case IPPROTO.ICMP:
        this.setDecodeVerdict(job, parseIcmp(b, src, off, end, layers));
        return;
      default:
        if (end > off) layers.push({ name: "data", source: src, offset: off, length: end - off, fields: { length: end - off, protocol: hdr.protocol } });
    }
  }

  private setDecodeVerdict(job: Job, err: string): void {
    if (err && job.verdict === "ok") job.verdict = err;
  }

  private esp(job: Job, b: Uint8Array, src: number, off: number, end: number, hdr: Ipv4Header): void {
    const n = end - off;
    const fields: Layer["fields"] = {};
    const layer: Layer = { name: "esp", source: src, offset: off, length: n, fields };
    job.pkt.layers.push(layer);
    if (n < 8) {
      this.setDecodeVerdict(job, "runt");
      return;
    }
    const spi = ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
    const seq = ((b[off + 4] << 24) | (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7]) >>> 0;
    fields.spi = spi;
    fields.seq = seq;
    const key = this.keys.lookup(4, hdr.src, hdr.dst, spi);
    if (!key) {
      fields.icv = "no-key";
      this.stats.espNoKey++;
      this.setDecodeVerdict(job, "no-key");
      return;
    }
    fields.algorithm = key.name;
    fields.icvLength = key.icvLength;
    if (n >= 16) fields.iv = view(b, off + 8, 8);
    const bind = this.binding(key, spi);
    if (!bind) {
      fields.icv = "no-key";
      this.setDecodeVerdict(job, "no-key");
      return;
    }
    if (!bind.started) {
      bind.started = true;
      if (key.esn) setReplayTop(bind.lane.esp, bind.sa, firstTop(key, seq));
    }
    const batch = this.pick(bind.lane, n);
    const index = batch.addPacket(view(b, off, n));
    job.esp = { batch, index, binding: bind, layer, buf: b, off, length: n };
  }

  private pick(l: Lane, n: number): EspBatch {
    if (n + HEADROOM <= SLOT) return l.small;
    l.big ??= l.esp.createBatch({ packets: 1, slotBytes: BIG_SLOT });
    return l.big;
  }

  /** The SA for (key, SPI), installed on first use in the first lane where the SPI is free. */
  private binding(key: EspKey, spi: number): Binding | undefined {
    let m = this.bindings.get(key);
    if (!m) this.bindings.set(key, (m = new Map()));
    const b = m.get(spi);
    if (b) return b;
    const lane = this.lanes.find((l) => !l.spis.has(spi));
    if (!lane) return undefined; // more SAs share this SPI than lanes exist (see createDecoder)
    const sa = lane.esp.addInbound({ spi, keymat: key.keymat, algorithm: key.algorithm, icvLength: key.icvLength, esn: key.esn, replayWindow: 0 });
    lane.spis.add(spi);
    const nb: Binding = { key, lane, sa, started: false };
    m.set(spi, nb);
    return nb;
  }

  private queuePipeline(ipv4: Uint8Array, hdr: Ipv4Header): { batch: PipelineBatch; index: number } {
    const t = this.tunnel!;
    const dp = this.dp!;
    // The endpoint's inbound SAs: keys addressed to the local endpoint, installed on first use.
    let spi = -1;
    let seqLow = 0;
    const ihl = hdr.headerLength;
    if (hdr.protocol === IPPROTO.ESP && ipv4.length >= ihl + 8) {
      spi = be32(ipv4, ihl);
      seqLow = be32(ipv4, ihl + 4);
    } else if (hdr.protocol === IPPROTO.UDP && ipv4.length >= ihl + 16 && ((ipv4[ihl + 2] << 8) | ipv4[ihl + 3]) === 4500) {
      spi = be32(ipv4, ihl + 8);
      seqLow = be32(ipv4, ihl + 12);
    }
    if (spi > 0 && !this.dpSas.has(spi)) {
      const key = this.keys.entries.find(
        (k) => ((spi & k.spi.mask) >>> 0) === k.spi.value && k.family !== 6 && (k.dst.any || k.dst.exact === t.local || !!k.dst.re?.test(t.local)),
      );
      if (key) {
        const sa = dp.esp.addInbound({ spi, keymat: key.keymat, algorithm: key.algorithm, icvLength: key.icvLength, esn: key.esn, replayWindow: t.spec.replayWindow ?? 1024 });
        dp.bindSa(sa, "decode");
        this.dpSas.set(spi, { sa, key, started: false });
      } else {
        this.dpSas.set(spi, null);
      }
    }
    const s = spi > 0 ? this.dpSas.get(spi) : undefined;
    if (s && !s.started) {
      s.started = true;
      if (s.key.esn) setReplayTop(dp.esp, s.sa, firstTop(s.key, seqLow));
    }
    let batch = t.small;
    if (ipv4.length + HEADROOM > SLOT) batch = t.big ??= dp.createBatch({ packets: 1, slotBytes: BIG_SLOT });
    return { batch, index: batch.addPacket(ipv4) };
  }

  // ---- back: results of the batch; decrypted bytes; inner layers; verdict ----

  private back(job: Job): void {
    const pkt = job.pkt;
    const decoded = job.esp ? this.espBack(job, job.esp) : job.verdict;
    if (!this.tunnel) {
      pkt.verdict = decoded;
      return;
    }
    if (job.pipe) {
      const { batch, index } = job.pipe;
      const k = batch.verdict(index);
      pkt.verdict = k === "dropped" ? batch.reason(index) : k === "deliver" || k === "ike" || k === "keepalive" ? "accept" : k === "other" ? "not-tunnel" : k;
      return;
    }
    // Not run through the pipeline: sent by the local endpoint, a fragment held, or not IPv4.
    pkt.verdict = job.verdict === "ok" ? "not-tunnel" : job.verdict;
  }

  private espBack(job: Job, e: EspJob): string {
    const { batch, index, layer, binding } = e;
    const f = layer.fields;
    const key = binding.key;
    const esp = binding.lane.esp;
    const r = batch.result(index);
    const reason = r >= 0 ? "none" : (DROP_REASONS[-r] ?? "none");
    const n = e.length;
    const icvLen = key.icvLength;
    let plain: Uint8Array | undefined;
    if (reason === "none" || reason === "bad-padding" || reason === "dummy") {
      f.icv = "ok";
      const i32 = esp.core.i32;
      const row = (batch.desc >> 2) + index * ROW;
      if (reason !== "bad-padding") {
        const lo = i32[row + E_SEQ_LO] >>> 0;
        const hi = i32[row + E_SEQ_HI] >>> 0;
        f.seq = hi === 0 ? lo : hi < 0x200000 ? hi * 4294967296 + lo : ((BigInt(hi) << 32n) | BigInt(lo)).toString();
        if (key.esn) f.seqHigh = hi;
      }
      const start = (i32[row + 1] >>> 0) + (i32[row + 2] >>> 0) + ESP_HEADROOM; // E_BUF + E_OFF
      plain = this.plainBytes(n - ESP_HEADROOM - icvLen);
      plain.set(new Uint8Array(esp.core.u8.buffer, start, plain.length));
      this.stats.espDecrypted++;
    } else if (reason === "integrity-failure") {
      f.icv = "bad";
      if (n >= ESP_HEADROOM + icvLen + 2) plain = this.displayDecrypt(esp, key, e.buf.subarray(e.off, e.off + n));
    } else {
      f.icv = "bad";
    }
    if (!plain) return job.verdict === "ok" ? reason : job.verdict;
    const pkt = job.pkt;
    const s = pkt.sources.push(plain) - 1;
    pkt.sourceNames.push("decrypted");
    layer.innerSource = s;
    const pl = plain.length;
    const padLength = plain[pl - 2];
    const nh = plain[pl - 1];
    f.nextHeader = nh;
    f.padLength = padLength;
    const payloadLength = pl - 2 - padLength;
    if (payloadLength < 0) {
      f.payloadLength = 0;
      return reason === "none" ? "bad-padding" : reason;
    }
    f.payloadLength = payloadLength;
    f.payload = view(plain, 0, payloadLength); // bytes here; hex text in JSON (packetJson)
    let err = "";
    if (nh === IPPROTO.IPV6) err = parseIpv6(plain, s, 0, payloadLength, pkt.layers);
    else if (nh === 4) {
      const h = parseIpv4(plain, s, 0, payloadLength, pkt.layers);
      if (typeof h === "string") err = h;
      else this.ipv4Upper(job, plain, s, h.headerLength, h.totalLength, h);
    } else if (nh !== IPPROTO.NONE && payloadLength > 0) {
      pkt.layers.push({ name: "data", source: s, offset: 0, length: payloadLength, fields: { length: payloadLength, protocol: nh } });
    }
    if (reason !== "none" && reason !== "dummy") return reason;
    return job.verdict !== "ok" ? job.verdict : err || "ok";
  }

  /**
   * A zeroed view of n bytes for a decrypted plaintext, cut from a chunk shared by the packets
   * that follow (a fresh Uint8Array per packet costs V8 a backing store each, the biggest cost
   * of decoding ESP). Views, not copies: a packet kept alive keeps its chunk alive.
   */
  private plainBytes(n: number): Uint8Array {
    if (n > PLAIN_CHUNK / 4) return new Uint8Array(n);
    if (this.plainUsed + n > this.plainChunk.length) {
      this.plainChunk = new Uint8Array(PLAIN_CHUNK);
      this.plainUsed = 0;
    }
    const v = view(this.plainChunk, this.plainUsed, n);
    this.plainUsed += (n + 7) & ~7;
    return v;
  }

  /**
   * Decrypt an ESP packet whose ICV failed, for display only: GCM and ChaCha20-Poly1305 encrypt
   * and decrypt with the same keystream (RFC 4106 §3, RFC 7634 §2), so sealing the ciphertext
   * yields the plaintext; AES-GMAC (RFC 4543) never encrypted it.
   */
  private displayDecrypt(esp: Esp, key: EspKey, packet: Uint8Array): Uint8Array {
    const ct = packet.subarray(ESP_HEADROOM, packet.length - key.icvLength);
    if (key.algorithm === "aes-gmac") return ct.slice();
    const core = esp.core;
    const x = core.x as unknown as Record<string, (...a: number[]) => number> & Record<string, WebAssembly.Global>;
    let ctx = this.ctrCtx.get(key);
    const keyLen = key.keymat.length - 4;
    const chacha = key.algorithm === "chacha20-poly1305";
    if (ctx === undefined) {
      ctx = core.alloc(chacha ? (x.CCP_CTX_BYTES as WebAssembly.Global).value : core.gcmCtxBytes);
      const kp = scratch(core, 64);
      core.u8.set(key.keymat.subarray(0, keyLen), kp);
      (chacha ? x.ccpInit : x.gcmInit)(ctx, kp, keyLen);
      core.x.wipe(kp, 64);
      this.ctrCtx.set(key, ctx);
    }
    const total = 32 + ct.length + 16;
    const base = scratch(core, total);
    const u8 = core.u8;
    u8.set(key.keymat.subarray(keyLen), base); // RFC 4106 §4 / RFC 7634 §2: nonce = salt ‖ IV
    u8.set(packet.subarray(8, 16), base + 4);
    u8.set(ct, base + 32);
    if (chacha) x.ccpSeal(ctx, base, base + 16, 0, base + 32, ct.length, base + 32);
    else core.x.gcmSeal(ctx, base, base + 16, 0, base + 32, ct.length, base + 32, 16);
    const out = this.plainBytes(ct.length); // (slice() on all of wasm memory is a slow path in V8)
    out.set(core.u8.subarray(base + 32, base + 32 + ct.length));
    core.x.wipe(base, total);
    return out;
  }

  /** Zero and release the key material held in wasm memory. */
  destroy(): void {
    for (const l of this.lanes) {
      for (const m of this.bindings.values()) for (const b of m.values()) if (b.lane === l) l.esp.remove(b.sa);
      l.small.destroy();
      l.big?.destroy();
    }
    for (const [k, ctx] of this.ctrCtx) {
      const core = this.lanes[0].esp.core;
      core.free(ctx, k.algorithm === "chacha20-poly1305" ? 32 : core.gcmCtxBytes);
    }
    this.ctrCtx.clear();
    this.bindings.clear();
    if (this.dp) for (const s of this.dpSas.values()) if (s) this.dp.removeSa(s.sa);
  }
}

const be32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** T for an ESN SA before its first packet: as if the packet just before it had been received. */
function firstTop(key: EspKey, seqLow: number): bigint {
  const t = ((BigInt(key.esnHigh) << 32n) | BigInt(seqLow)) - 1n;
  return t < 0n ? 0n : t;
}

/**
 * Set an inbound SA's highest received sequence number T (RFC 4303 A2), from which ESN high
 * bits are inferred. src/esp.ts has no API for it yet (asked of the lead); this writes the
 * replay state's first u64 (assembly/esp/replay.ts REPLAY_T = 0) through the SA record.
 */
function setReplayTop(esp: Esp, sa: SaHandle, t: bigint): void {
  const x = esp.core.x as unknown as { saPtr(i: number): number; SA_REPLAY: WebAssembly.Global };
  const base = x.saPtr(sa.index);
  const dv = new DataView(esp.core.u8.buffer);
  const rp = dv.getUint32(base + (x.SA_REPLAY.value as number), true);
  if (rp) dv.setBigUint64(rp, t, true);
}

/** Lanes needed so that every key can have its SA although several keys share an SPI. */
function lanesFor(keys: KeyStore): number {
  let wild = 0;
  const exact = new Map<number, number>();
  for (const k of keys.entries) {
    if (k.spi.mask !== 0xffffffff) wild++;
    else exact.set(k.spi.value, (exact.get(k.spi.value) ?? 0) + 1);
  }
  return Math.max(1, wild + Math.max(0, ...exact.values()));
}

/** Create a decoder (one wasm instance per lane, plus one for the tunnel's dataplane). */
export async function createDecoder(options: DecodeOptions = {}): Promise<Decoder> {
  const keys = options.keys ?? new KeyStore();
  const size = options.batchSize ?? 32;
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new DecodeError("ERR_USAGE", "batchSize must be an integer from 1 to 4096");
  const lanes: Lane[] = [];
  const n = Math.min(lanesFor(keys), 16);
  for (let i = 0; i < n; i++) {
    // "auto": in Node, AES keystream for a batch's packets of an SA in one node:crypto call.
    const esp = new Esp(await newCore(), Math.max(64, keys.entries.length * 4), "auto");
    lanes.push({ esp, small: esp.createBatch({ packets: size, slotBytes: SLOT }), big: undefined, spis: new Set() });
  }
  let dp: Dataplane | undefined;
  const t = options.tunnel;
  if (t) {
    if (!parseIPv4(t.local)) throw new DecodeError("ERR_USAGE", `--tunnel local=${t.local} is not an IPv4 address`);
    if (!parseIPv4(t.remote)) throw new DecodeError("ERR_USAGE", `--tunnel remote=${t.remote} is not an IPv4 address`);
    for (const a of t.allow) {
      const p = parsePrefix(a);
      if (!p || p.family !== 6) throw new DecodeError("ERR_USAGE", `--tunnel allow=${a} is not an IPv6 prefix without host bits`);
    }
    dp = new Dataplane(await newCore(), { sas: 1024, tunnels: 1 });
    dp.addTunnel({ name: "decode", local: t.local, remote: t.remote, address: "fe80::1/64", allow: t.allow }, t.policy ?? "protect");
  }
  return new Decoder(lanes, { ...options, keys, batchSize: size }, dp);
}

/** Convenience: decode a whole capture with a fresh decoder. */
export async function* decodeCapture(file: Uint8Array, options: DecodeOptions = {}): AsyncGenerator<DecodedPacket> {
  const d = await createDecoder(options);
  try {
    yield* d.decodeCapture(file);
  } finally {
    d.destroy();
  }
}
