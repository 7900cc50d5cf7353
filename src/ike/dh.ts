/**
 * Diffie-Hellman for IKE_SA_INIT and CREATE_CHILD_SA (RFC 7296 §2.7, §3.4), over node:crypto:
 *
 *   groups 14–18  2048/3072/4096/6144/8192-bit MODP (RFC 3526)  KE data: g^x, big-endian, p's length
 *   group 19      256-bit random ECP, NIST P-256 (RFC 5903)      KE data: x ‖ y, 64 bytes (no 0x04)
 *   group 20      384-bit random ECP, NIST P-384 (RFC 5903)      KE data: x ‖ y, 96 bytes
 *   group 21      521-bit random ECP, NIST P-521 (RFC 5903)      KE data: x ‖ y, 132 bytes
 *   group 31      Curve25519 (RFC 8031)                          KE data: the 32-byte public key
 *   group 32      Curve448 (RFC 8031)                            KE data: the 56-byte public key
 *
 * Received public values are validated as RFC 7296 §5 / RFC 5903 §9 / RFC 8031 §2 ask:
 * MODP values in 2..p−2, ECP points on the curve (node:crypto refuses others), X25519/X448 shared
 * secrets not all-zero. A bad value is an IpsecError with code ERR_IKE_KE.
 */
import { createDiffieHellmanGroup, createECDH, diffieHellman, generateKeyPairSync, createPublicKey, type KeyObject } from "node:crypto";
import { IpsecError } from "../errors.js";

export const DH_GROUPS = { MODP2048: 14, MODP3072: 15, MODP4096: 16, MODP6144: 17, MODP8192: 18, ECP256: 19, ECP384: 20, ECP521: 21, CURVE25519: 31, CURVE448: 32 } as const;

/** KE payload data length per group. */
export const KE_LENGTH: Record<number, number> = { 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024, 19: 64, 20: 96, 21: 132, 31: 32, 32: 56 };

export interface DhExchange {
  readonly group: number;
  /** Our public value as it goes in the KE payload. */
  readonly publicValue: Uint8Array;
  /** g^ir from the peer's KE payload data. Throws ERR_IKE_KE on an invalid value. */
  computeSecret(peer: Uint8Array): Uint8Array;
}

function keError(msg: string): IpsecError {
  return new IpsecError("ERR_IKE_KE", msg);
}

export function supportedGroup(group: number): boolean {
  return group in KE_LENGTH;
}

/** Start a Diffie-Hellman exchange in `group`. */
export function createDh(group: number): DhExchange {
  switch (group) {
    case 14:
    case 15:
    case 16:
    case 17:
    case 18: {
      const len = KE_LENGTH[group];
      const dh = createDiffieHellmanGroup(`modp${group}`);
      const pub = new Uint8Array(dh.generateKeys());
      const p = BigInt(`0x${dh.getPrime("hex")}`);
      return {
        group,
        publicValue: leftPad(pub, len),
        computeSecret(peer) {
          if (peer.length !== len) throw keError(`group ${group} KE data must be ${len} bytes, not ${peer.length}`);
          const y = BigInt(`0x${Buffer.from(peer).toString("hex")}`);
          if (y <= 1n || y >= p - 1n) throw keError(`group ${group} public value outside 2..p-2`);
          return leftPad(new Uint8Array(dh.computeSecret(peer)), len);
        },
      };
    }
    case 19:
    case 20:
    case 21: {
      const curve = group === 19 ? "prime256v1" : group === 20 ? "secp384r1" : "secp521r1";
      const n = KE_LENGTH[group] / 2;
      const ecdh = createECDH(curve);
      const pub = ecdh.generateKeys(); // 0x04 ‖ x ‖ y
      return {
        group,
        publicValue: new Uint8Array(pub.subarray(1)),
        computeSecret(peer) {
          if (peer.length !== 2 * n) throw keError(`group ${group} KE data must be ${2 * n} bytes, not ${peer.length}`);
          try {
            // RFC 5903 §7: the shared secret is the x coordinate only.
            return new Uint8Array(ecdh.computeSecret(Buffer.concat([Buffer.from([4]), peer])));
          } catch {
            throw keError(`group ${group} public value is not a point on the curve`);
          }
        },
      };
    }
    case 31:
    case 32: {
      const crv = group === 31 ? "X25519" : "X448";
      const len = KE_LENGTH[group];
      const { publicKey, privateKey } = group === 31 ? generateKeyPairSync("x25519") : generateKeyPairSync("x448");
      const raw = publicKey.export({ format: "jwk" }).x!;
      return {
        group,
        publicValue: new Uint8Array(Buffer.from(raw, "base64url")),
        computeSecret(peer) {
          if (peer.length !== len) throw keError(`group ${group} KE data must be ${len} bytes, not ${peer.length}`);
          let pk: KeyObject;
          try {
            pk = createPublicKey({ key: { kty: "OKP", crv, x: Buffer.from(peer).toString("base64url") }, format: "jwk" });
          } catch {
            throw keError(`group ${group} public value refused`);
          }
          // RFC 8031 §2.3: an all-zero result means a small-order point: abort. (OpenSSL
          // refuses to derive it at all; the check below covers providers that do not.)
          let s: Uint8Array;
          try {
            s = new Uint8Array(diffieHellman({ privateKey, publicKey: pk }));
          } catch {
            throw keError(`group ${group} shared secret is all zero (small-order point)`);
          }
          if (s.every((b) => b === 0)) throw keError(`group ${group} shared secret is all zero (small-order point)`);
          return s;
        },
      };
    }
    default:
      throw keError(`Diffie-Hellman group ${group} is not supported (${Object.keys(KE_LENGTH).join(", ")} are)`);
  }
}

function leftPad(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const out = new Uint8Array(n);
  out.set(b, n - b.length);
  return out;
}
