/**
 * What each IKE transform this codec implements needs: key and salt lengths, IV and ICV
 * lengths (RFC 7296 §3.14, RFC 5282 §3, RFC 7634 §3, RFC 4868 §2), and the hash of each PRF.
 */
import * as C from "./constants.js";
import type { IkeAead, IkeHash } from "./crypto.js";
import { IkeError } from "./errors.js";

export interface EncrSpec {
  id: number;
  /** AES key length in bits (256 for ChaCha20). */
  keyLen: number;
  kind: "cbc" | "aead";
  aead?: IkeAead;
  /** Bytes of keying material per direction: the key, plus the 4-byte salt for AEADs. */
  keymatLen: number;
  saltLen: number;
  ivLen: number;
  /** AEAD tag length; 0 for CBC (its ICV comes from the integrity transform). */
  icvLen: number;
  /** Ciphertext alignment: 16 for CBC, 1 for AEADs (RFC 5282 §3: no padding needed). */
  blockLen: number;
}

const GCM_ICV: Record<number, number> = { [C.ENCR_AES_GCM_8]: 8, [C.ENCR_AES_GCM_12]: 12, [C.ENCR_AES_GCM_16]: 16 };

/** The ENCR transform `id` with a Key Length attribute of `keyLen` bits. */
export function encrSpec(id: number, keyLen: number): EncrSpec {
  if (id === C.ENCR_AES_CBC || GCM_ICV[id] !== undefined) {
    if (keyLen !== 128 && keyLen !== 192 && keyLen !== 256) {
      throw new IkeError("ERR_IKE_ALGORITHM", `${C.ENCR_NAMES[id]} needs a key length of 128, 192 or 256 bits, not ${keyLen}`);
    }
    if (id === C.ENCR_AES_CBC) {
      return { id, keyLen, kind: "cbc", keymatLen: keyLen / 8, saltLen: 0, ivLen: C.CBC_IV_LEN, icvLen: 0, blockLen: C.AES_BLOCK_LEN };
    }
    // RFC 5282 §7.1 / RFC 4106 §8.1: keying material = AES key ‖ 4-byte salt.
    return { id, keyLen, kind: "aead", aead: "aes-gcm", keymatLen: keyLen / 8 + 4, saltLen: 4, ivLen: C.AEAD_IV_LEN, icvLen: GCM_ICV[id], blockLen: 1 };
  }
  if (id === C.ENCR_CHACHA20_POLY1305) {
    // RFC 7634 §3/§4: 256-bit key (no Key Length attribute), keying material = key ‖ 4-byte salt.
    if (keyLen !== 256 && keyLen !== 0) {
      throw new IkeError("ERR_IKE_ALGORITHM", `ENCR_CHACHA20_POLY1305 has a 256-bit key, not ${keyLen}`);
    }
    return { id, keyLen: 256, kind: "aead", aead: "chacha20-poly1305", keymatLen: 36, saltLen: 4, ivLen: C.AEAD_IV_LEN, icvLen: 16, blockLen: 1 };
  }
  throw new IkeError("ERR_IKE_ALGORITHM", `encryption transform ${C.ENCR_NAMES[id] ?? id} is not implemented`);
}

export interface IntegSpec {
  id: number;
  hash: IkeHash;
  /** Key length = hash output length (RFC 4868 §2.1.1, RFC 2404). */
  keyLen: number;
  /** Truncated ICV length. */
  icvLen: number;
}

const INTEG: Record<number, IntegSpec> = {
  [C.AUTH_HMAC_SHA1_96]: { id: C.AUTH_HMAC_SHA1_96, hash: "sha1", keyLen: 20, icvLen: 12 },
  [C.AUTH_HMAC_SHA2_256_128]: { id: C.AUTH_HMAC_SHA2_256_128, hash: "sha256", keyLen: 32, icvLen: 16 },
  [C.AUTH_HMAC_SHA2_384_192]: { id: C.AUTH_HMAC_SHA2_384_192, hash: "sha384", keyLen: 48, icvLen: 24 },
  [C.AUTH_HMAC_SHA2_512_256]: { id: C.AUTH_HMAC_SHA2_512_256, hash: "sha512", keyLen: 64, icvLen: 32 },
};

export function integSpec(id: number): IntegSpec {
  const s = INTEG[id];
  if (!s) throw new IkeError("ERR_IKE_ALGORITHM", `integrity transform ${C.INTEG_NAMES[id] ?? id} is not implemented`);
  return s;
}

export interface PrfSpec {
  id: number;
  hash: IkeHash;
  /** Output length = preferred key length (RFC 7296 §2.13, §2.14). */
  outLen: number;
}

const PRF: Record<number, PrfSpec> = {
  [C.PRF_HMAC_SHA1]: { id: C.PRF_HMAC_SHA1, hash: "sha1", outLen: 20 },
  [C.PRF_HMAC_SHA2_256]: { id: C.PRF_HMAC_SHA2_256, hash: "sha256", outLen: 32 },
  [C.PRF_HMAC_SHA2_384]: { id: C.PRF_HMAC_SHA2_384, hash: "sha384", outLen: 48 },
  [C.PRF_HMAC_SHA2_512]: { id: C.PRF_HMAC_SHA2_512, hash: "sha512", outLen: 64 },
};

export function prfSpec(id: number): PrfSpec {
  const s = PRF[id];
  if (!s) throw new IkeError("ERR_IKE_ALGORITHM", `PRF ${C.PRF_NAMES[id] ?? id} is not implemented`);
  return s;
}
