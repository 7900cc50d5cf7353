/**
 * Wireshark's IKEv2 decryption table (the `ikev2_decryption_table` UAT file, as Wireshark
 * and strongSwan's save-keys plugin write it): one SA per line,
 *
 *   SPIi,SPIr,SK_ei,SK_er,"encryption algorithm",SK_ai,SK_ar,"integrity algorithm"
 *
 * SPIs and keys in hex (16 hex digits for SPIs); algorithm names exactly as Wireshark's
 * packet-isakmp.c spells them ("AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-CBC-256
 * [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]", "NONE [RFC4306]"). For AES-GCM, SK_e is the
 * key followed by its 4-byte salt. '#' starts a comment line. Wireshark 4.0 has no IKEv2
 * ChaCha20-Poly1305 entry; "ChaCha20 with Poly1305 [RFC7634]" (its ESP name) is accepted here.
 */
import { redactKeys } from "../redact.js";
import * as C from "./constants.js";
import { fromHex, toHex } from "./bytes.js";
import { encrSpec, integSpec } from "./algorithms.js";
import { IkeError } from "./errors.js";
import type { IkeSaKeys } from "./message.js";

const ENCR_BY_NAME = new Map<string, { encr: number; keyLen: number }>();
for (const kl of [128, 192, 256]) {
  ENCR_BY_NAME.set(`AES-CBC-${kl} [RFC3602]`, { encr: C.ENCR_AES_CBC, keyLen: kl });
  for (const [icv, id] of [[16, C.ENCR_AES_GCM_16], [12, C.ENCR_AES_GCM_12], [8, C.ENCR_AES_GCM_8]] as const) {
    ENCR_BY_NAME.set(`AES-GCM-${kl} with ${icv} octet ICV [RFC5282]`, { encr: id, keyLen: kl });
  }
}
ENCR_BY_NAME.set("ChaCha20 with Poly1305 [RFC7634]", { encr: C.ENCR_CHACHA20_POLY1305, keyLen: 256 });

/** Names Wireshark knows that this codec cannot decrypt with. */
const WIRESHARK_ONLY = /^(3DES \[RFC2451\]|NULL \[RFC2410\]|AES-CTR-\d+ \[RFC5930\]|AES-CCM-\d+ with \d+ octet ICV \[RFC5282\])$/;

const INTEG_BY_NAME = new Map<string, number>([
  ["NONE [RFC4306]", C.AUTH_NONE],
  ["HMAC_SHA1_96 [RFC2404]", C.AUTH_HMAC_SHA1_96],
  ["HMAC_SHA2_256_128 [RFC4868]", C.AUTH_HMAC_SHA2_256_128],
  ["HMAC_SHA2_384_192 [RFC4868]", C.AUTH_HMAC_SHA2_384_192],
  ["HMAC_SHA2_512_256 [RFC4868]", C.AUTH_HMAC_SHA2_512_256],
]);

/** Split one UAT line into fields: comma-separated, each bare or "quoted" (\\, \", \xHH escapes). */
function splitUat(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === " " || line[i] === "\t") i++;
    let v = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error("unterminated quoted field");
        const c = line[i++];
        if (c === '"') break;
        if (c === "\\") {
          const d = line[i++];
          if (d === "x" && /^[0-9a-fA-F]{2}$/.test(line.substr(i, 2))) {
            v += String.fromCharCode(parseInt(line.substr(i, 2), 16));
            i += 2;
          } else if (d !== undefined) v += d;
          else throw new Error("backslash at end of line");
        } else v += c;
      }
      while (line[i] === " " || line[i] === "\t") i++;
    } else {
      while (i < line.length && line[i] !== ",") v += line[i++];
      v = v.trim();
    }
    out.push(v);
    if (i >= line.length) return out;
    if (line[i] !== ",") throw new Error(`unexpected '${line[i]}' after a quoted field`);
    i++;
  }
}

function hexField(v: string, what: string): Uint8Array {
  const s = v.startsWith("0x") || v.startsWith("0X") ? v.slice(2) : v;
  return fromHex(s, what, "ERR_IKE_KEYFILE");
}

function parseLine(line: string): IkeSaKeys {
  let f: string[];
  try {
    f = splitUat(line);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (f.length !== 8) throw new Error(`${f.length} fields, expected 8 (SPIi, SPIr, SK_ei, SK_er, encryption, SK_ai, SK_ar, integrity)`);
  const [spiIx, spiRx, eix, erx, encName, aix, arx, integName] = f;
  const spiI = hexField(spiIx, "Initiator's SPI");
  const spiR = hexField(spiRx, "Responder's SPI");
  if (spiI.length !== 8) throw new Error(`Initiator's SPI must be 8 octets (16 hex characters), not ${spiI.length}`);
  if (spiR.length !== 8) throw new Error(`Responder's SPI must be 8 octets (16 hex characters), not ${spiR.length}`);
  const enc = ENCR_BY_NAME.get(encName);
  if (!enc) {
    if (WIRESHARK_ONLY.test(encName)) throw new Error(`encryption algorithm "${encName}" is not supported by ipsec6in4`);
    throw new Error(`unknown encryption algorithm "${encName}"`);
  }
  const integ = INTEG_BY_NAME.get(integName);
  if (integ === undefined) throw new Error(`unknown or unsupported integrity algorithm "${integName}"`);
  const spec = encrSpec(enc.encr, enc.keyLen);
  if (spec.kind === "aead" && integ !== C.AUTH_NONE) throw new Error(`"${encName}" requires the NONE integrity algorithm`);
  if (spec.kind === "cbc" && integ === C.AUTH_NONE) throw new Error(`"${encName}" needs an integrity algorithm (NONE cannot be checked)`);
  const skEi = hexField(eix, "SK_ei");
  const skEr = hexField(erx, "SK_er");
  const skAi = hexField(aix, "SK_ai");
  const skAr = hexField(arx, "SK_ar");
  const want = spec.keymatLen;
  if (skEi.length !== want) throw new Error(`SK_ei of ${skEi.length} octets; "${encName}" needs ${want}${spec.saltLen ? " (key + 4-octet salt)" : ""}`);
  if (skEr.length !== want) throw new Error(`SK_er of ${skEr.length} octets; "${encName}" needs ${want}${spec.saltLen ? " (key + 4-octet salt)" : ""}`);
  const ak = integ === C.AUTH_NONE ? 0 : integSpec(integ).keyLen;
  if (skAi.length !== ak) throw new Error(`SK_ai of ${skAi.length} octets; "${integName}" needs ${ak}`);
  if (skAr.length !== ak) throw new Error(`SK_ar of ${skAr.length} octets; "${integName}" needs ${ak}`);
  const k: IkeSaKeys = { spiI, spiR, encr: enc.encr, keyLen: enc.keyLen, skEi, skEr };
  if (integ !== C.AUTH_NONE) Object.assign(k, { integ, skAi, skAr });
  return redactKeys(k, ["skEi", "skEr", "skAi", "skAr"]);
}

/**
 * Parse an ikev2_decryption_table file. Blank lines and '#' comments are skipped. Any bad line
 * makes it throw IkeError ERR_IKE_KEYFILE naming every bad line ("line 3: …; line 7: …").
 */
export function parseIkev2DecryptionTable(text: string): IkeSaKeys[] {
  if (typeof text !== "string") throw new IkeError("ERR_INPUT_TYPE", "the decryption table must be a string");
  const out: IkeSaKeys[] = [];
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    try {
      out.push(parseLine(line));
    } catch (e) {
      bad.push(`line ${i + 1}: ${(e as Error).message}`);
    }
  });
  if (bad.length) throw new IkeError("ERR_IKE_KEYFILE", `ikev2_decryption_table: ${bad.join("; ")}`);
  return out;
}

/** Wireshark's name of an encryption transform (the inverse of the table above). */
export function wiresharkEncrName(encr: number, keyLen: number): string {
  for (const [name, v] of ENCR_BY_NAME) if (v.encr === encr && v.keyLen === keyLen) return name;
  throw new IkeError("ERR_IKE_ALGORITHM", `no Wireshark name for encryption ${encr} with ${keyLen}-bit keys`);
}

export function wiresharkIntegName(integ: number | undefined): string {
  for (const [name, v] of INTEG_BY_NAME) if (v === (integ ?? 0)) return name;
  throw new IkeError("ERR_IKE_ALGORITHM", `no Wireshark name for integrity ${integ}`);
}

/** Write IkeSaKeys as ikev2_decryption_table lines (what strongSwan's save-keys writes). */
export function formatIkev2DecryptionTable(keys: readonly IkeSaKeys[]): string {
  return keys
    .map((k) => {
      const ai = k.skAi ? toHex(k.skAi) : "";
      const ar = k.skAr ? toHex(k.skAr) : "";
      return `${toHex(k.spiI)},${toHex(k.spiR)},${toHex(k.skEi)},${toHex(k.skEr)},"${wiresharkEncrName(k.encr, k.keyLen)}",${ai},${ar},"${wiresharkIntegName(k.integ)}"\n`;
    })
    .join("");
}
