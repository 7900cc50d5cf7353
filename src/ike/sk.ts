/**
 * The Encrypted payload (SK, RFC 7296 §3.14) and the Encrypted Fragment payload (SKF,
 * RFC 7383 §2.5), sealed and opened:
 *
 *  - AES-CBC + HMAC (§3.14): body = IV(16) ‖ E(payloads ‖ padding ‖ pad length) ‖ ICV;
 *    the ICV is the truncated HMAC over the whole message from the first octet of the IKE
 *    header through the last octet of the encrypted data (so: header, SK header, IV, data).
 *  - AES-GCM (RFC 5282 §3, §5.1) and ChaCha20-Poly1305 (RFC 7634 §3): body = IV(8) ‖
 *    ciphertext ‖ tag; nonce = salt ‖ IV, the salt being the last 4 octets of SK_e; AAD =
 *    the message from the first octet of the IKE header through the last octet of the
 *    Encrypted payload's header (4 octets for SK, 8 for SKF; the IV is not part of it).
 *
 * Opening, in order: 1. split the body by the algorithm's IV and ICV lengths; 2. verify the
 * ICV (HMAC compared in constant time, or the AEAD tag) before anything is released;
 * 3. decrypt; 4. check the Pad Length fits (§3.14: padding content is not checked).
 *
 * Written as generators of crypto operations (see crypto.ts), so they run with a
 * synchronous provider (node:crypto) or an async one (WebCrypto) unchanged.
 */
import { AEAD_SALT_LEN } from "./constants.js";
import { concat, equalCt } from "./bytes.js";
import type { CryptoSteps } from "./crypto.js";
import { encrSpec, integSpec, type EncrSpec, type IntegSpec } from "./algorithms.js";
import { IkeError, malformed } from "./errors.js";

/** The keys of one direction of an IKE SA, as the SK payload uses them. */
export interface SkKeys {
  encr: number;
  /** Key Length attribute in bits (AES); 256 for ChaCha20-Poly1305. */
  keyLen: number;
  integ?: number;
  /** SK_ei or SK_er: the encryption key, followed by the 4-byte salt for AEADs. */
  encKey: Uint8Array;
  /** SK_ai or SK_ar (CBC only). */
  integKey?: Uint8Array;
}

export interface SkSuite {
  encr: EncrSpec;
  integ?: IntegSpec;
  ivLen: number;
  icvLen: number;
}

/** Resolve and check the algorithms and key lengths of `k`. Throws ERR_IKE_ALGORITHM. */
export function skSuite(k: SkKeys): SkSuite {
  const encr = encrSpec(k.encr, k.keyLen);
  if (k.encKey.length !== encr.keymatLen) {
    throw new IkeError("ERR_IKE_ALGORITHM", `SK_e of ${k.encKey.length} bytes; ${encr.keyLen}-bit ${encr.kind === "aead" ? "key + 4-byte salt" : "key"} needs ${encr.keymatLen}`);
  }
  if (encr.kind === "aead") {
    // RFC 5282 §8: an AEAD is not combined with an integrity transform (or only with NONE).
    if (k.integ) throw new IkeError("ERR_IKE_ALGORITHM", "a combined-mode cipher takes no integrity transform (RFC 5282 §8)");
    return { encr, ivLen: encr.ivLen, icvLen: encr.icvLen };
  }
  if (!k.integ) throw new IkeError("ERR_IKE_ALGORITHM", "AES-CBC needs an integrity transform");
  const integ = integSpec(k.integ);
  if (!k.integKey || k.integKey.length !== integ.keyLen) {
    throw new IkeError("ERR_IKE_ALGORITHM", `SK_a must be ${integ.keyLen} bytes for this integrity transform`);
  }
  return { encr, integ, ivLen: encr.ivLen, icvLen: integ.icvLen };
}

/** Length of the plaintext to encrypt (payloads + padding + Pad Length) and padding length. */
export function skPadding(suite: SkSuite, innerLen: number, padLength?: number): number {
  const bl = suite.encr.blockLen;
  const pad = padLength ?? (bl - ((innerLen + 1) % bl)) % bl;
  if (!Number.isInteger(pad) || pad < 0 || pad > 255) throw new IkeError("ERR_INPUT_TYPE", `pad length ${pad} is not 0..255`);
  if ((innerLen + pad + 1) % bl !== 0) {
    throw new IkeError("ERR_INPUT_TYPE", `payloads (${innerLen}) + padding (${pad}) + 1 is not a multiple of the ${bl}-byte block (§3.14)`);
  }
  return pad;
}

/** Body length of an SK payload carrying innerLen bytes of payloads with `pad` padding bytes. */
export function skBodyLength(suite: SkSuite, innerLen: number, pad: number): number {
  return suite.ivLen + innerLen + pad + 1 + suite.icvLen;
}

function nonceOf(k: SkKeys, suite: SkSuite, iv: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const kl = suite.encr.keymatLen - AEAD_SALT_LEN;
  return { key: k.encKey.subarray(0, kl), nonce: concat([k.encKey.subarray(kl), iv]) };
}

/**
 * Seal: `prefix` is the message from the IKE header through the SK (or SKF) header, with
 * every length field already final. Returns the SK body: IV ‖ ciphertext ‖ ICV.
 */
export function* sealSk(k: SkKeys, prefix: Uint8Array, inner: Uint8Array, iv: Uint8Array, pad: number): CryptoSteps<Uint8Array> {
  const suite = skSuite(k);
  if (iv.length !== suite.ivLen) throw new IkeError("ERR_INPUT_TYPE", `IV must be ${suite.ivLen} bytes, not ${iv.length}`);
  const pt = new Uint8Array(inner.length + pad + 1);
  pt.set(inner, 0);
  pt[pt.length - 1] = pad; // §3.14: padding bytes are zero here; any value is allowed
  if (suite.encr.kind === "aead") {
    const { key, nonce } = nonceOf(k, suite, iv);
    const sealed = (yield { op: "aeadSeal", alg: suite.encr.aead!, key, nonce, aad: prefix, data: pt, tagLength: suite.icvLen }) as Uint8Array;
    return concat([iv, sealed]);
  }
  const ct = (yield { op: "aesCbc", encrypt: true, key: k.encKey, iv, data: pt }) as Uint8Array;
  const mac = (yield { op: "hmac", hash: suite.integ!.hash, key: k.integKey!, data: concat([prefix, iv, ct]) }) as Uint8Array;
  return concat([iv, ct, mac.subarray(0, suite.icvLen)]);
}

export interface SkOpened {
  /** "ok" with the plaintext, or "bad" when the ICV did not verify (nothing else released). */
  icv: "ok" | "bad";
  /** The inner payload chain (padding and Pad Length removed). */
  inner?: Uint8Array;
  iv: Uint8Array;
  icvBytes: Uint8Array;
  padLength?: number;
}

/**
 * Open an SK/SKF payload. `prefix` = message from the IKE header through the SK (SKF) header,
 * `body` = the payload bytes after that header. Throws ERR_IKE_MALFORMED when the body cannot
 * hold IV, one byte and ICV (or is not whole blocks for CBC) and ERR_IKE_PADDING when a
 * verified plaintext has a Pad Length longer than itself. A bad ICV is returned, not thrown.
 */
export function* openSk(k: SkKeys, prefix: Uint8Array, body: Uint8Array): CryptoSteps<SkOpened> {
  const suite = skSuite(k);
  const ctLen = body.length - suite.ivLen - suite.icvLen;
  if (ctLen < 1) malformed(`Encrypted payload body of ${body.length} bytes cannot hold IV (${suite.ivLen}), Pad Length and ICV (${suite.icvLen})`);
  if (ctLen % suite.encr.blockLen !== 0) {
    throw new IkeError("ERR_IKE_PADDING", `encrypted data of ${ctLen} bytes is not a multiple of the ${suite.encr.blockLen}-byte block (§3.14)`, { notifyType: 7 });
  }
  const iv = body.subarray(0, suite.ivLen);
  const ct = body.subarray(suite.ivLen, suite.ivLen + ctLen);
  const icvBytes = body.subarray(suite.ivLen + ctLen);
  let pt: Uint8Array;
  if (suite.encr.kind === "aead") {
    const { key, nonce } = nonceOf(k, suite, iv);
    const r = yield { op: "aeadOpen", alg: suite.encr.aead!, key, nonce, aad: prefix, data: body.subarray(suite.ivLen), tagLength: suite.icvLen };
    if (r === null) return { icv: "bad", iv, icvBytes };
    pt = r;
  } else {
    const mac = (yield { op: "hmac", hash: suite.integ!.hash, key: k.integKey!, data: concat([prefix, iv, ct]) }) as Uint8Array;
    if (!equalCt(mac.subarray(0, suite.icvLen), icvBytes)) return { icv: "bad", iv, icvBytes };
    pt = (yield { op: "aesCbc", encrypt: false, key: k.encKey, iv, data: ct }) as Uint8Array;
  }
  const padLength = pt[pt.length - 1];
  if (padLength + 1 > pt.length) {
    throw new IkeError("ERR_IKE_PADDING", `Pad Length ${padLength} is longer than the ${pt.length - 1} decrypted bytes before it (§3.14)`, { notifyType: 7, authenticated: true });
  }
  return { icv: "ok", inner: pt.subarray(0, pt.length - 1 - padLength), iv, icvBytes, padLength };
}
