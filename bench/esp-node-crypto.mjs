// ESP (RFC 4303) with AES-GCM (RFC 4106) written in plain JavaScript over node:crypto,
// one createCipheriv per packet: the natural alternative a Node user would write. It is
// the baseline of `npm run bench -- esp` and an independent implementation the tests
// cross-check ours against (it shares no code with assembly/ or src/).
import { createCipheriv, createDecipheriv } from "node:crypto";

/** keymat = AES key ‖ 4-byte salt. Returns the ESP packet (SPI ‖ seq ‖ IV ‖ ct ‖ ICV). */
export function espSealNode({ spi, keymat, seq, icv = 16, esn = false, iv, nextHeader = 41, padding }, payload) {
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
  pt[pt.length - 2] = padLen;
  pt[pt.length - 1] = nextHeader;
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32BE(spi >>> 0, 0);
  hdr.writeUInt32BE(Number(seq64 & 0xffffffffn), 4);
  const aad = esn ? Buffer.concat([hdr.subarray(0, 4), u32be(Number(seq64 >> 32n)), hdr.subarray(4)]) : hdr;
  const c = createCipheriv(`aes-${key.length * 8}-gcm`, key, Buffer.concat([salt, ivb]), { authTagLength: icv });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  return new Uint8Array(Buffer.concat([hdr, ivb, ct, c.getAuthTag()]));
}

/** Returns { seq, payload, nextHeader, padLen } or throws. seqHigh: the ESN high bits to use. */
export function espOpenNode({ keymat, icv = 16, esn = false, seqHigh = 0 }, packet) {
  const p = Buffer.from(packet);
  const key = keymat.subarray(0, keymat.length - 4);
  const salt = keymat.subarray(keymat.length - 4);
  const aad = esn ? Buffer.concat([p.subarray(0, 4), u32be(seqHigh), p.subarray(4, 8)]) : p.subarray(0, 8);
  const d = createDecipheriv(`aes-${key.length * 8}-gcm`, key, Buffer.concat([salt, p.subarray(8, 16)]), { authTagLength: icv });
  d.setAAD(aad);
  d.setAuthTag(p.subarray(p.length - icv));
  const pt = Buffer.concat([d.update(p.subarray(16, p.length - icv)), d.final()]);
  const padLen = pt[pt.length - 2];
  return { seq: p.readUInt32BE(4), payload: new Uint8Array(pt.subarray(0, pt.length - 2 - padLen)), nextHeader: pt[pt.length - 1], padLen, padding: new Uint8Array(pt.subarray(pt.length - 2 - padLen, pt.length - 2)) };
}

function u32be(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
