/**
 * strongSwan's ESP algorithm keywords (swanctl.conf `esp_proposals`, strongSwan's
 * proposal_keywords_static.txt) for the algorithms ipsec6in4's ESP implements, mapped to
 * the `algorithm`, key length and ICV length that `Esp.addInbound`/`addOutbound` take:
 *
 *   aes128gcm16, aes192gcm12, aes256gcm8, … (aliases aes128gcm128/96/64, aes128gcm)  RFC 4106
 *   chacha20poly1305                                                                 RFC 7634
 *   aes128gmac, aes192gmac, aes256gmac                                               RFC 4543
 *
 * Example: `esp.addOutbound({ spi, keymat, ...espAlgorithm("aes256gcm12") })`.
 * Keywords are case-insensitive. A whole proposal ("aes128gcm16-esn", lists of algorithms)
 * is src/config/proposals.ts's business; this maps one encryption keyword.
 */
import { fail } from "./errors.js";
import type { EspAlgorithm } from "./esp.js";

export interface EspAlgorithmSpec {
  /** The canonical strongSwan keyword (e.g. "aes128gcm16" for "aes128gcm128"). */
  readonly keyword: string;
  readonly algorithm: EspAlgorithm;
  /** Key length in bytes (without the salt). */
  readonly keyLength: number;
  /** ICV length in bytes. */
  readonly icvLength: number;
  /** keymat length Esp takes: key ‖ 4-byte salt (also what IKEv2 derives per direction, RFC 7296 §2.17). */
  readonly keymatLength: number;
}

const SPECS = new Map<string, EspAlgorithmSpec>();

function add(names: string[], algorithm: EspAlgorithm, keyLength: number, icvLength: number): void {
  const spec: EspAlgorithmSpec = Object.freeze({ keyword: names[0], algorithm, keyLength, icvLength, keymatLength: keyLength + 4 });
  for (const n of names) SPECS.set(n, spec);
}

for (const bits of [128, 192, 256]) {
  // RFC 4106 §8: ICV 8, 12 or 16 bytes; strongSwan also accepts the size in bits, and no
  // size for 16 bytes.
  for (const [icv, alias] of [[8, 64], [12, 96], [16, 128]] as const) {
    add([`aes${bits}gcm${icv}`, `aes${bits}gcm${alias}`, ...(icv === 16 ? [`aes${bits}gcm`] : [])], "aes-gcm", bits / 8, icv);
  }
  // RFC 4543 §3.4: the ICV is always 16 bytes.
  add([`aes${bits}gmac`], "aes-gmac", bits / 8, 16);
}
// RFC 7634: 256-bit key, 16-byte ICV. (strongSwan's "chacha20poly1305compat" is the pre-RFC
// IKEv2 draft with a different nonce, not an ESP algorithm.)
add(["chacha20poly1305"], "chacha20-poly1305", 32, 16);

/** Every keyword espAlgorithm accepts (canonical names and aliases). */
export const ESP_ALGORITHM_KEYWORDS: readonly string[] = Object.freeze([...SPECS.keys()]);

/**
 * The algorithm, key and ICV lengths of a strongSwan ESP encryption keyword. Throws
 * ERR_CONFIG for a keyword that is unknown or names an algorithm ipsec6in4's ESP lacks.
 */
export function espAlgorithm(keyword: string): EspAlgorithmSpec {
  if (typeof keyword !== "string") fail("ERR_INPUT_TYPE", "keyword must be a string");
  const spec = SPECS.get(keyword.toLowerCase());
  if (!spec) {
    fail("ERR_CONFIG", `"${keyword}" is not an ESP algorithm ipsec6in4 implements (AES-GCM: aes128gcm16 …, ChaCha20-Poly1305: chacha20poly1305, AES-GMAC: aes128gmac …)`);
  }
  return spec;
}
