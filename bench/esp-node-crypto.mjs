// ESP (RFC 4303) with AES-GCM (RFC 4106), ChaCha20-Poly1305 (RFC 7634) or AES-GMAC
// (RFC 4543) written in plain JavaScript over node:crypto, one createCipheriv per packet:
// the natural alternative a Node user would write. It is the baseline of
// `npm run bench -- esp` and an independent implementation the tests cross-check ours
// against (it shares no code with assembly/ or src/).
//
//   aes-gcm:            C ‖ T = AES-GCM(key, salt ‖ IV, AAD = SPI ‖ seq (‖ ESN form), P)
//   chacha20-poly1305:  the same with node's "chacha20-poly1305" (RFC 7634 §2, §2.1)
//   aes-gmac:           T = AES-GCM(key, salt ‖ IV, AAD = SPI ‖ seq (‖ ESN form) ‖ IV ‖ P, "")
//                       and P travels in the clear (RFC 4543 §3.3)
// where P = payload ‖ padding ‖ pad length ‖ next header and, with ESN, the AAD's
// sequence number is seq-high ‖ seq-low.
import { createCipheriv, createDecipheriv } from "node:crypto";

function cipherName(algorithm, key) {
  if (algorithm === "chacha20-poly1305") return "chacha20-poly1305";
  if (algorithm === "aes-gcm" || algorithm === "aes-gmac") return `aes-${key.length * 8}-gcm`;
  throw new Error(`esp-node-crypto: unknown algorithm ${algorithm}`);
}

/** AAD of RFC 4106 §5 / RFC 7634 §2.1: SPI ‖ seq, or SPI ‖ seq-high ‖ seq-low. */
function seqAad(hdr, esn, seqHigh) {
  return esn ? Buffer.concat([hdr.subarray(0, 4), u32be(seqHigh), hdr.subarray(4, 8)]) : hdr.subarray(0, 8);
}

/**
 * keymat = key ‖ 4-byte salt. Returns the ESP packet (SPI ‖ seq ‖ IV ‖ ct ‖ ICV); with
 * aes-gmac the payload and trailer are in the clear.
 */
/** padLength overrides the pad length byte (to forge authentic packets with bad padding). */
export function espSealNode({ spi, keymat, seq, icv = 16, esn = false, iv, nextHeader = 41, padding, padLength, algorithm = "aes-gcm" }, payload) {
  const key = keymat.subarray(0, keymat.length - 4);
  const salt = keymat.subarray(keymat.length - 4);
  const seq64 = BigInt(seq);
  const ivb = Buffer.alloc(8);
  if (iv) Buffer.from(iv).copy(ivb);
  else ivb.writeBigUInt64BE(seq64);
  const padLen = padding ? padding.length : (4 - ((payload.length + 2) % 4)) % 4;
  const pt = Buffer.alloc(payload.length + padLen + 2);
  Buffer.from(payload).copy(pt);
  for (let i = 0; i < padLen; i++) pt[payload.length + i] = padding ? padding[i] : i + 1;
  pt[pt.length - 2] = padLength ?? padLen;
  pt[pt.length - 1] = nextHeader;
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32BE(spi >>> 0, 0);
  hdr.writeUInt32BE(Number(seq64 & 0xffffffffn), 4);
  const aad = seqAad(hdr, esn, Number(seq64 >> 32n));
  const c = createCipheriv(cipherName(algorithm, key), key, Buffer.concat([salt, ivb]), { authTagLength: icv });
  if (algorithm === "aes-gmac") {
    c.setAAD(Buffer.concat([aad, ivb, pt])); // RFC 4543 §3.3: the IV and the payload are AAD
    c.final();
    return new Uint8Array(Buffer.concat([hdr, ivb, pt, c.getAuthTag()]));
  }
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  return new Uint8Array(Buffer.concat([hdr, ivb, ct, c.getAuthTag()]));
}

/** Returns { seq, payload, nextHeader, padLen, padding } or throws. seqHigh: the ESN high bits to use. */
export function espOpenNode({ keymat, icv = 16, esn = false, seqHigh = 0, algorithm = "aes-gcm" }, packet) {
  const p = Buffer.from(packet);
  const key = keymat.subarray(0, keymat.length - 4);
  const salt = keymat.subarray(keymat.length - 4);
  const aad = seqAad(p, esn, seqHigh);
  const d = createDecipheriv(cipherName(algorithm, key), key, Buffer.concat([salt, p.subarray(8, 16)]), { authTagLength: icv });
  d.setAuthTag(p.subarray(p.length - icv));
  let pt;
  if (algorithm === "aes-gmac") {
    pt = p.subarray(16, p.length - icv);
    d.setAAD(Buffer.concat([aad, p.subarray(8, 16), pt]));
    d.final();
  } else {
    d.setAAD(aad);
    pt = Buffer.concat([d.update(p.subarray(16, p.length - icv)), d.final()]);
  }
  const padLen = pt[pt.length - 2];
  return { seq: p.readUInt32BE(4), payload: new Uint8Array(pt.subarray(0, pt.length - 2 - padLen)), nextHeader: pt[pt.length - 1], padLen, padding: new Uint8Array(pt.subarray(pt.length - 2 - padLen, pt.length - 2)) };
}

function u32be(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
