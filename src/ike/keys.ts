/**
 * IKEv2 key derivation (RFC 7296 §2.13, §2.14, §2.17, §2.18) with HMAC PRFs (RFC 2104,
 * RFC 4868 for SHA-2):
 *
 *   SKEYSEED = prf(Ni | Nr, g^ir)                                           §2.14
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *            = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)                        §2.14
 *   SKEYSEED (rekey) = prf(SK_d (old), g^ir (new) | Ni | Nr)                 §2.18
 *   KEYMAT   = prf+(SK_d, [g^ir (new) |] Ni | Nr)                            §2.17
 *            split: initiator→responder encr, integ; then responder→initiator encr, integ.
 *
 * Ni and Nr are the nonce values (payload bodies, no generic header); SPIs are the 8-byte
 * header values, initiator's first, whoever computes. g^ir is the shared secret as the
 * group defines it (RFC 5903 §7: the x coordinate only for ECP; MODP zero-padded to the
 * modulus length). Synchronous with the IKE crypto provider (node:crypto by default).
 */
import { concat } from "./bytes.js";
import { ikeCrypto, type IkeCryptoSync } from "./crypto.js";
import { encrSpec, integSpec, prfSpec } from "./algorithms.js";
import { IkeError } from "./errors.js";
import type { IkeSaKeys } from "./message.js";

/** prf(K, S) — HMAC with the PRF transform's hash (§2.13). */
export function prf(prfId: number, key: Uint8Array, data: Uint8Array, crypto: IkeCryptoSync = ikeCrypto()): Uint8Array {
  return crypto.hmac(prfSpec(prfId).hash, key, data);
}

/**
 * prf+(K, S) = T1 | T2 | …, T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n) (§2.13),
 * cut to `length` bytes. At most 255 blocks: longer requests throw ERR_IKE_ALGORITHM.
 */
export function prfPlus(prfId: number, key: Uint8Array, seed: Uint8Array, length: number, crypto: IkeCryptoSync = ikeCrypto()): Uint8Array {
  const { hash, outLen } = prfSpec(prfId);
  if (!Number.isInteger(length) || length < 0) throw new IkeError("ERR_INPUT_TYPE", `prf+ length ${length}`);
  if (length > 255 * outLen) throw new IkeError("ERR_IKE_ALGORITHM", `prf+ can give at most 255 × ${outLen} bytes (§2.13), not ${length}`);
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let n = 1, o = 0; o < length; n++) {
    t = crypto.hmac(hash, key, concat([t, seed, Uint8Array.of(n)]));
    out.set(t.subarray(0, Math.min(t.length, length - o)), o);
    o += t.length;
  }
  return out;
}

/** SKEYSEED = prf(Ni | Nr, g^ir) (§2.14). */
export function skeyseed(prfId: number, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array, crypto?: IkeCryptoSync): Uint8Array {
  return prf(prfId, concat([ni, nr]), gir, crypto);
}

/** SKEYSEED for a rekeyed IKE SA = prf(SK_d (old), g^ir (new) | Ni | Nr) (§2.18). */
export function rekeySkeyseed(prfId: number, skDOld: Uint8Array, girNew: Uint8Array, ni: Uint8Array, nr: Uint8Array, crypto?: IkeCryptoSync): Uint8Array {
  return prf(prfId, skDOld, concat([girNew, ni, nr]), crypto);
}

export interface IkeSaSuite {
  prf: number;
  encr: number;
  /** Key length in bits (AES 128/192/256; ChaCha20-Poly1305 256). */
  keyLen: number;
  /** Integrity transform; absent or 0 with an AEAD. */
  integ?: number;
}

export interface IkeSaKeyMaterial {
  skeyseed: Uint8Array;
  skD: Uint8Array;
  skAi: Uint8Array;
  skAr: Uint8Array;
  skEi: Uint8Array;
  skEr: Uint8Array;
  skPi: Uint8Array;
  skPr: Uint8Array;
}

/** Key lengths of the seven keys for a suite: SK_d/pi/pr = PRF output, SK_a = integ key, SK_e = key (+ salt). */
export function ikeSaKeyLengths(s: IkeSaSuite): { d: number; a: number; e: number; p: number } {
  const p = prfSpec(s.prf).outLen;
  const e = encrSpec(s.encr, s.keyLen);
  const a = e.kind === "aead" ? 0 : integSpec(s.integ ?? 0).keyLen;
  return { d: p, a, e: e.keymatLen, p };
}

/**
 * The seven IKE SA keys (§2.14) from the nonces, the DH shared secret and the SPIs. With an
 * existing `skeyseed` (e.g. from rekeySkeyseed) pass it instead of `gir`.
 */
export function deriveIkeSaKeys(
  s: IkeSaSuite,
  a: { ni: Uint8Array; nr: Uint8Array; spiI: Uint8Array; spiR: Uint8Array; gir?: Uint8Array; skeyseed?: Uint8Array },
  crypto: IkeCryptoSync = ikeCrypto(),
): IkeSaKeyMaterial {
  const seed = a.skeyseed ?? (a.gir ? skeyseed(s.prf, a.ni, a.nr, a.gir, crypto) : undefined);
  if (!seed) throw new IkeError("ERR_INPUT_TYPE", "deriveIkeSaKeys needs gir or skeyseed");
  const L = ikeSaKeyLengths(s);
  const km = prfPlus(s.prf, seed, concat([a.ni, a.nr, a.spiI, a.spiR]), L.d + 2 * L.a + 2 * L.e + 2 * L.p, crypto);
  let o = 0;
  const take = (n: number): Uint8Array => km.slice(o, (o += n));
  return { skeyseed: seed, skD: take(L.d), skAi: take(L.a), skAr: take(L.a), skEi: take(L.e), skEr: take(L.e), skPi: take(L.p), skPr: take(L.p) };
}

/** The IkeSaKeys the codec takes, from derived key material. */
export function toIkeSaKeys(s: IkeSaSuite, spiI: Uint8Array, spiR: Uint8Array, k: IkeSaKeyMaterial): IkeSaKeys {
  const aead = encrSpec(s.encr, s.keyLen).kind === "aead";
  const out: IkeSaKeys = { spiI, spiR, encr: s.encr, keyLen: encrSpec(s.encr, s.keyLen).keyLen, skEi: k.skEi, skEr: k.skEr };
  if (!aead) Object.assign(out, { integ: s.integ, skAi: k.skAi, skAr: k.skAr });
  return out;
}

export interface ChildSaSuite {
  /** ESP encryption transform (ENCR_AES_GCM_16, ENCR_CHACHA20_POLY1305, ENCR_AES_CBC, …). */
  encr: number;
  keyLen: number;
  /** ESP integrity transform (absent with an AEAD). */
  integ?: number;
}

export interface ChildSaKeys {
  /** Initiator → responder: encryption keying material (AEAD: key ‖ 4-byte salt, RFC 4106 §8.1 / RFC 7634 §4). */
  encrI: Uint8Array;
  integI: Uint8Array;
  /** Responder → initiator. */
  encrR: Uint8Array;
  integR: Uint8Array;
}

/**
 * CHILD_SA KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr) (§2.17), taken in the order the RFC
 * gives: all keys for the initiator→responder SA first (encryption, then integrity), then
 * the responder→initiator ones. Ni, Nr are those of the exchange creating the CHILD_SA.
 */
export function deriveChildSaKeys(
  prfId: number,
  skD: Uint8Array,
  s: ChildSaSuite,
  a: { ni: Uint8Array; nr: Uint8Array; girNew?: Uint8Array },
  crypto: IkeCryptoSync = ikeCrypto(),
): ChildSaKeys {
  const e = encrSpec(s.encr, s.keyLen);
  const ia = e.kind === "aead" ? 0 : integSpec(s.integ ?? 0).keyLen;
  const seed = concat([a.girNew ?? new Uint8Array(0), a.ni, a.nr]);
  const km = prfPlus(prfId, skD, seed, 2 * (e.keymatLen + ia), crypto);
  let o = 0;
  const take = (n: number): Uint8Array => km.slice(o, (o += n));
  const keys = { encrI: take(e.keymatLen), integI: take(ia), encrR: take(e.keymatLen), integR: take(ia) };
  // The seed holds g^ir (new) with PFS; KEYMAT is copied out: neither outlives this call.
  seed.fill(0);
  km.fill(0);
  return keys;
}
