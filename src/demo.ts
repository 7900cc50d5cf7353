/**
 * `ipsec6in4 demo` (npm start): what the library does today, end to end on one machine.
 *
 *  1. Make IPv6 packets (ICMPv6 echo requests from 2001:db8:1::1 to 2001:db8:2::1).
 *  2. Frame each as RFC 4891 Table 1 transport-mode ESP: SPI ‖ seq ‖ IV ‖ IPv6 packet ‖
 *     pad ‖ pad length ‖ next header 41 ‖ ICV, with RFC 4106 AES-GCM (nonce = salt ‖ IV,
 *     AAD = SPI ‖ seq), sealed as one batch in WebAssembly.
 *  3. Open the batch on the "receiving" side and check every inner packet is intact.
 *  4. Flip one bit of one packet and show it is refused (ERR_AUTH) and releases nothing.
 *  5. Report throughput for both engines.
 */
import { randomBytes } from "node:crypto";
import { createAesGcm, type AesGcm } from "./aes-gcm.js";
import { fail } from "./errors.js";

type Write = (s: string) => void;

const SPI = 0x00001001;
const NEXT_HEADER_IPV6 = 41; // RFC 4891 §2: protocol 41 inside ESP
const ICV = 16;

function ipv6Echo(seq: number, payloadLen: number): Uint8Array {
  const p = new Uint8Array(40 + 8 + payloadLen);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000); // version 6
  v.setUint16(4, 8 + payloadLen); // payload length
  p[6] = 58; // ICMPv6
  p[7] = 64; // hop limit
  p.set([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  p.set([0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 24);
  p[40] = 128; // echo request
  v.setUint16(44, 0x6934);
  v.setUint16(46, seq);
  for (let i = 0; i < payloadLen; i++) p[48 + i] = i & 0xff;
  return p;
}

/** RFC 4303 §2.4: payload ‖ 1,2,3,… padding to a 4-byte boundary ‖ pad length ‖ next header. */
function espPlaintext(inner: Uint8Array): Uint8Array {
  const padLen = (4 - ((inner.length + 2) % 4)) % 4;
  const out = new Uint8Array(inner.length + padLen + 2);
  out.set(inner);
  for (let i = 0; i < padLen; i++) out[inner.length + i] = i + 1;
  out[out.length - 2] = padLen;
  out[out.length - 1] = NEXT_HEADER_IPV6;
  return out;
}

function espHeader(seq: number): Uint8Array {
  const h = new Uint8Array(8);
  const v = new DataView(h.buffer);
  v.setUint32(0, SPI);
  v.setUint32(4, seq);
  return h;
}

function ivFor(seq: number): Uint8Array {
  // RFC 4106 §3.1: the IV must be unique per key; the 64-bit sequence number is the usual choice.
  const iv = new Uint8Array(8);
  new DataView(iv.buffer).setUint32(4, seq);
  return iv;
}

function nonceOf(salt: Uint8Array, iv: Uint8Array): Uint8Array {
  const n = new Uint8Array(12);
  n.set(salt);
  n.set(iv, 4);
  return n;
}

function hex(b: Uint8Array, max = 24): string {
  const s = Buffer.from(b.subarray(0, max)).toString("hex");
  return b.length > max ? `${s}…` : s;
}

function throughput(gcm: AesGcm, size: number, packets: number, ms: number): number {
  const batch = gcm.createBatch({ packets, bytes: packets * (size + 64) });
  const payload = new Uint8Array(size);
  const salt = new Uint8Array(4);
  const aad = new Uint8Array(8);
  for (let i = 0; i < packets; i++) batch.add(nonceOf(salt, ivFor(i)), payload, aad);
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    gcm.sealBatch(batch, ICV);
    n += packets;
    t = performance.now();
  }
  batch.destroy();
  return (n * 1000) / (t - t0);
}

export async function demo(args: string[], out: Write): Promise<number> {
  let count = 8;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--packets") {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1 || v > 4096) fail("ERR_USAGE", "--packets takes an integer from 1 to 4096");
      count = v;
    } else {
      fail("ERR_USAGE", `demo: unknown option '${args[i]}'`);
    }
  }

  // Keys would come from IKEv2 (RFC 4891 §6); the demo draws them at random.
  const keymat = randomBytes(20); // RFC 4106 §8.1: AES-128 key ‖ 4-byte salt
  const key = keymat.subarray(0, 16);
  const salt = keymat.subarray(16);
  const sender = await createAesGcm(key);
  const receiver = await createAesGcm(key, { engine: "wasm" });
  out(`ipsec6in4 demo: RFC 4891 transport-mode ESP, AES-128-GCM (RFC 4106), ICV ${ICV} bytes, SPI 0x${SPI.toString(16).padStart(8, "0")}\n`);
  out(`engines: sender '${sender.engine}', receiver '${receiver.engine}'\n\n`);

  // 1–2: seal a batch.
  const inner = Array.from({ length: count }, (_, i) => ipv6Echo(i + 1, 16 + 40 * i));
  const tx = sender.createBatch({ packets: count, bytes: count * 1024 });
  inner.forEach((p, i) => tx.add(nonceOf(salt, ivFor(i + 1)), espPlaintext(p), espHeader(i + 1)));
  const sealed = sender.sealBatch(tx, ICV);
  const wire = inner.map((_, i) => {
    const ct = tx.output(i);
    const pkt = new Uint8Array(8 + 8 + ct.length);
    pkt.set(espHeader(i + 1));
    pkt.set(ivFor(i + 1), 8);
    pkt.set(ct, 16);
    return pkt;
  });
  tx.destroy();
  out(`sealed ${sealed}/${count} packets in one call:\n`);
  out(`  seq  inner  on-wire  ESP bytes (SPI ‖ seq ‖ IV ‖ ciphertext ‖ ICV)\n`);
  wire.forEach((w, i) => out(`  ${String(i + 1).padStart(3)}  ${String(inner[i].length).padStart(5)}  ${String(w.length + 20).padStart(7)}  ${hex(w)}\n`));

  // 4 (prepared before opening): one forged packet.
  const forged = wire[count - 1].slice();
  forged[20] ^= 0x01;

  // 3: open on the receiving side.
  const rx = receiver.createBatch({ packets: count + 1, bytes: (count + 1) * 1024 });
  const parse = (w: Uint8Array) => {
    const v = new DataView(w.buffer, w.byteOffset);
    return { seq: v.getUint32(4), iv: w.subarray(8, 16), ct: w.subarray(16) };
  };
  for (const w of [...wire, forged]) {
    const p = parse(w);
    rx.add(nonceOf(salt, p.iv), p.ct, w.subarray(0, 8));
  }
  const opened = receiver.openBatch(rx, ICV);
  let intact = 0;
  for (let i = 0; i < count; i++) {
    const pt = rx.output(i);
    const padLen = pt[pt.length - 2];
    const next = pt[pt.length - 1];
    const got = pt.subarray(0, pt.length - 2 - padLen);
    if (next === NEXT_HEADER_IPV6 && Buffer.compare(got, inner[i]) === 0) intact++;
  }
  out(`\nopened ${opened}/${count + 1}: ${intact}/${count} inner IPv6 packets intact (next header 41)\n`);
  const err = rx.error(count);
  out(`forged packet (one bit flipped in the ciphertext): ${err ? `refused, ${err.code}` : "ACCEPTED (bug)"}\n`);
  rx.destroy();

  // 5: throughput.
  out(`\nthroughput, batches of 64, 1420-byte packets, ~300 ms each:\n`);
  for (const g of [sender, receiver]) {
    const pps = throughput(g, 1420, 64, 300);
    out(`  engine ${g.engine.padEnd(5)} ${Math.round(pps).toLocaleString("en-US").padStart(9)} packets/s  ${((pps * 1420) / 1e6).toFixed(0).padStart(5)} MB/s\n`);
  }
  sender.destroy();
  receiver.destroy();
  const good = sealed === count && opened === count && intact === count && err?.code === "ERR_AUTH";
  out(good ? "\ndemo OK\n" : "\ndemo FAILED\n");
  return good ? 0 : 1;
}
