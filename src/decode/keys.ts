/**
 * ESP keys for the decoder, from the places users already have them:
 *
 *  - Wireshark's `esp_sa` UAT file (Preferences › Protocols › ESP › ESP SAs), one SA a line:
 *      "IPv4","192.0.2.1","192.0.2.2","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x<key‖salt>","NULL",""
 *    protocol, source, destination, SPI, encryption algorithm, encryption key (AES key ‖
 *    4-byte salt, RFC 4106 §8.1), authentication algorithm, authentication key. Addresses may
 *    be "*" or carry "*" wildcards (192.0.2.*), the SPI "*" or hex digits "*" (0x0000100*), as
 *    Wireshark allows. Two more fields, if present, are read as sequence-number size
 *    ("64-bit" = ESN) and the initial high 32 bits.
 *  - `--sa` specifications in strongSwan's words:
 *      spi=0x00001001,enc=aes128gcm16,key=0x<key‖salt>[,esn=<initial high 32 bits>][,src=A][,dst=B]
 *
 * Several sources combine; the first matching entry wins, and every --sa comes before every
 * file entry, so for the same SPI and addresses --sa wins. Errors name the file and line.
 */
import { redactKeys } from "../redact.js";
import { parseIPv4, parseIPv6 } from "../addr.js";
import { IpsecError } from "../errors.js";
import type { EspAlgorithm } from "../esp.js";
import { espAlgorithm } from "../esp-algorithms.js";
import { DecodeError } from "./errors.js";

export type { EspAlgorithm };

export interface EspKey {
  /** Where it came from: "esp_sa:3" or "--sa #1". */
  origin: string;
  family: 4 | 6 | 0;
  src: AddrPattern;
  dst: AddrPattern;
  spi: SpiPattern;
  algorithm: EspAlgorithm;
  /** Key ‖ 4-byte salt (RFC 4106 §8.1, RFC 7634 §2, RFC 4543 §5.4). */
  keymat: Uint8Array;
  icvLength: 8 | 12 | 16;
  /** Extended sequence numbers (RFC 4303 §2.2.1). */
  esn: boolean;
  /** High 32 bits of the sequence number of the first packet seen on this SA (ESN). */
  esnHigh: number;
  /** strongSwan name of the algorithm, e.g. aes128gcm16. */
  name: string;
}

/** An address (4 or 16 bytes) with a mask of significant bytes; any = matches everything. */
export interface AddrPattern {
  text: string;
  any: boolean;
  /** Per-nibble compare on the expanded text form (wildcards are "*"). */
  re?: RegExp;
  exact?: string;
}

export interface SpiPattern {
  text: string;
  value: number;
  mask: number;
}

export interface KeyWarning {
  origin: string;
  message: string;
}

function keyError(origin: string, msg: string): never {
  throw new DecodeError("ERR_KEYS", `${origin}: ${msg}`);
}

/** Expanded text of an address as the patterns compare it: IPv4 dotted, IPv6 8 groups of 4 hex digits. */
export function expandAddr(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  let s = "";
  for (let i = 0; i < 16; i += 2) s += (i ? ":" : "") + ((bytes[i] << 8) | bytes[i + 1]).toString(16).padStart(4, "0");
  return s;
}

function addrPattern(origin: string, what: string, text: string, family: 4 | 6 | 0): AddrPattern {
  const t = text.trim();
  if (t === "" || t === "*" || t === "any") return { text: t || "*", any: true };
  if (!t.includes("*")) {
    const v4 = parseIPv4(t);
    if (v4 && family !== 6) return { text: t, any: false, exact: expandAddr(4, v4) };
    const v6 = parseIPv6(t);
    if (v6 && family !== 4) return { text: t, any: false, exact: expandAddr(6, v6) };
    keyError(origin, `${what} '${t}' is not an ${family === 4 ? "IPv4" : family === 6 ? "IPv6" : "IP"} address`);
  }
  // Wildcards: IPv4 octets ("192.0.2.*", "10.*"), IPv6 groups ("2001:db8:*").
  if (/^[\d*]+(\.[\d*]+){0,3}$/.test(t)) {
    const parts = t.split(".");
    const re = parts.map((p) => (p === "*" ? "\\d+" : p.includes("*") ? p.replace(/\*/g, "\\d") : String(Number(p))));
    while (re.length < 4) re.push("\\d+");
    return { text: t, any: false, re: new RegExp(`^${re.join("\\.")}$`) };
  }
  if (/^[0-9a-fA-F*:]+$/.test(t) && !t.includes("::")) {
    const groups = t.split(":").map((g) => (g === "*" ? "[0-9a-f]{4}" : g.toLowerCase().padStart(4, "0").replace(/\*/g, "[0-9a-f]")));
    while (groups.length < 8) groups.push("[0-9a-f]{4}");
    return { text: t, any: false, re: new RegExp(`^${groups.join(":")}$`) };
  }
  keyError(origin, `${what} '${t}' is not an address or a wildcard pattern`);
}

function spiPattern(origin: string, text: string): SpiPattern {
  const t = text.trim();
  if (t === "*" || t === "") return { text: "*", value: 0, mask: 0 };
  const m = /^0x([0-9a-fA-F*]{1,8})$/.exec(t) ?? /^([0-9a-fA-F*]{8})$/.exec(t);
  if (m) {
    const digits = m[1].padStart(8, "0");
    let value = 0;
    let mask = 0;
    for (const d of digits) {
      value = value * 16 + (d === "*" ? 0 : parseInt(d, 16));
      mask = mask * 16 + (d === "*" ? 0 : 15);
    }
    if (mask === 0xffffffff && value === 0) keyError(origin, "SPI 0 is reserved (RFC 4303 §2.1)");
    return { text: t, value: value >>> 0, mask: mask >>> 0 };
  }
  if (/^\d+$/.test(t) && Number(t) <= 0xffffffff && Number(t) > 0) return { text: t, value: Number(t), mask: 0xffffffff };
  keyError(origin, `SPI '${t}' is not 0x followed by up to 8 hex digits`);
}

function keyBytes(origin: string, text: string): Uint8Array {
  const t = text.trim();
  if (/^0x/i.test(t)) {
    const h = t.slice(2);
    if (!/^([0-9a-fA-F]{2})+$/.test(h)) keyError(origin, "key is not an even number of hex digits after 0x");
    const out = new Uint8Array(h.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  // Wireshark takes a key without 0x as ASCII text.
  return new TextEncoder().encode(t);
}

const WIRESHARK_ALGS: Record<string, { algorithm: EspAlgorithm; icv: 8 | 12 | 16 } | undefined> = {
  "AES-GCM with 8 octet ICV [RFC4106]": { algorithm: "aes-gcm", icv: 8 },
  "AES-GCM with 12 octet ICV [RFC4106]": { algorithm: "aes-gcm", icv: 12 },
  "AES-GCM with 16 octet ICV [RFC4106]": { algorithm: "aes-gcm", icv: 16 },
  "AES-GCM [RFC4106]": { algorithm: "aes-gcm", icv: 16 },
  "ChaCha20 with Poly1305 [RFC7634]": { algorithm: "chacha20-poly1305", icv: 16 },
};

/** Algorithms the ESP engine (src/esp.ts) can run. */
export const SUPPORTED_ALGORITHMS: ReadonlySet<EspAlgorithm> = new Set<EspAlgorithm>(["aes-gcm", "chacha20-poly1305", "aes-gmac"]);

function strongswanName(algorithm: EspAlgorithm, keyLen: number, icv: number): string {
  return algorithm === "chacha20-poly1305" ? "chacha20poly1305" : algorithm === "aes-gmac" ? `aes${keyLen * 8}gmac` : `aes${keyLen * 8}gcm${icv}`;
}

function checkKeymat(origin: string, algorithm: EspAlgorithm, keymat: Uint8Array, want?: number): void {
  if (algorithm === "chacha20-poly1305") {
    if (keymat.length !== 36) keyError(origin, `ChaCha20-Poly1305 needs a 32-byte key and a 4-byte salt (RFC 7634 §2): 36 bytes, not ${keymat.length}`);
    return;
  }
  if (want !== undefined && keymat.length !== want + 4) {
    keyError(origin, `key must be the ${want * 8}-bit AES key and the 4-byte salt (RFC 4106 §8.1): ${want + 4} bytes, not ${keymat.length}`);
  }
  if (keymat.length !== 20 && keymat.length !== 28 && keymat.length !== 36) {
    keyError(origin, `AES-GCM key must be AES key ‖ 4-byte salt (RFC 4106 §8.1): 20, 28 or 36 bytes, not ${keymat.length}`);
  }
}

/**
 * Split one UAT line into fields: "quoted" with \xNN escapes (Wireshark writes \x22 for a
 * quote and \x5c for a backslash), separated by commas.
 */
function uatFields(origin: string, line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (line[i] === '"') {
      i++;
      let s = "";
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\") {
          const m = /^\\x([0-9a-fA-F]{2})/.exec(line.slice(i));
          if (m) {
            s += String.fromCharCode(parseInt(m[1], 16));
            i += 4;
            continue;
          }
          s += line[i + 1] ?? "";
          i += 2;
          continue;
        }
        s += line[i++];
      }
      if (line[i] !== '"') keyError(origin, "unterminated quoted field");
      i++;
      out.push(s);
    } else {
      let s = "";
      while (i < line.length && line[i] !== ",") s += line[i++];
      out.push(s.trim());
    }
    while (line[i] === " " || line[i] === "\t") i++;
    if (i < line.length) {
      if (line[i] !== ",") keyError(origin, `expected ',' after field ${out.length}, found '${line[i]}'`);
      i++;
      if (i === line.length) out.push("");
    }
  }
  return out;
}

/**
 * Parse a Wireshark esp_sa file. Entries with algorithms the decoder cannot run (AES-CBC,
 * NULL, …) are skipped with a warning; malformed lines throw ERR_KEYS naming file:line.
 */
export function parseEspSaFile(text: string, fileName = "esp_sa", warnings: KeyWarning[] = []): EspKey[] {
  const keys: EspKey[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const origin = `${fileName}:${i + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const f = uatFields(origin, line);
    if (f.length < 8) keyError(origin, `expected 8 fields (protocol, source, destination, SPI, encryption, key, authentication, key), found ${f.length}`);
    const proto = f[0];
    const family = proto === "IPv4" ? 4 : proto === "IPv6" ? 6 : proto === "Any" || proto === "*" ? 0 : keyError(origin, `protocol '${proto}' is not IPv4, IPv6 or Any`);
    const src = addrPattern(origin, "source", f[1], family);
    const dst = addrPattern(origin, "destination", f[2], family);
    const spi = spiPattern(origin, f[3]);
    const alg = WIRESHARK_ALGS[f[4]];
    if (!alg) {
      warnings.push({ origin, message: `encryption '${f[4]}' is not one ipsec6in4 decrypts (AES-GCM [RFC4106]); entry skipped` });
      return;
    }
    if (!SUPPORTED_ALGORITHMS.has(alg.algorithm)) {
      warnings.push({ origin, message: `encryption '${f[4]}' is not supported by this ESP engine yet; entry skipped` });
      return;
    }
    const keymat = keyBytes(origin, f[5]);
    checkKeymat(origin, alg.algorithm, keymat);
    let esn = false;
    let esnHigh = 0;
    if (f.length >= 10) {
      esn = /64|esn/i.test(f[8]);
      if (esn && f[9].trim() !== "") esnHigh = u32(origin, "ESN high bits", f[9]);
    }
    keys.push(redactKeys({ origin, family, src, dst, spi, algorithm: alg.algorithm, keymat, icvLength: alg.icv, esn, esnHigh, name: strongswanName(alg.algorithm, keymat.length - 4, alg.icv) }, ["keymat"]));
  });
  return keys;
}

function u32(origin: string, what: string, t: string): number {
  const s = t.trim();
  const v = /^0x[0-9a-fA-F]{1,8}$/i.test(s) ? parseInt(s.slice(2), 16) : /^\d{1,10}$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) keyError(origin, `${what} '${s}' is not a 32-bit number`);
  return v;
}

/** Parse one --sa specification (strongSwan algorithm names). */
export function parseSaSpec(text: string, origin = "--sa"): EspKey {
  const kv = new Map<string, string>();
  for (const part of text.split(",")) {
    const p = part.trim();
    if (p === "") continue;
    const eq = p.indexOf("=");
    if (eq <= 0) keyError(origin, `'${p}' is not key=value`);
    const k = p.slice(0, eq).trim();
    if (kv.has(k)) keyError(origin, `${k} given twice`);
    kv.set(k, p.slice(eq + 1).trim());
  }
  for (const k of kv.keys()) {
    if (!["spi", "enc", "key", "esn", "src", "dst", "seq"].includes(k)) keyError(origin, `unknown key '${k}' (have spi, enc, key, esn, src, dst, seq)`);
  }
  const need = (k: string) => kv.get(k) ?? keyError(origin, `missing ${k}= (e.g. spi=0x00001001,enc=aes128gcm16,key=0x…)`);
  const spi = spiPattern(origin, need("spi"));
  if (spi.mask !== 0xffffffff) keyError(origin, "spi must be one SPI, without wildcards");
  const enc = need("enc").toLowerCase();
  let spec;
  try {
    spec = espAlgorithm(enc);
  } catch (e) {
    if (e instanceof IpsecError) keyError(origin, `enc '${enc}' is not an ESP algorithm ipsec6in4 implements (aes128gcm16, aes256gcm12, aes192gcm8, chacha20poly1305, aes128gmac, …)`);
    throw e;
  }
  const keyText = need("key");
  if (!/^0x/i.test(keyText)) keyError(origin, "key must be hex: 0x followed by key ‖ 4-byte salt");
  const keymat = keyBytes(origin, keyText);
  if (keymat.length !== spec.keymatLength) {
    keyError(origin, `${spec.keyword} needs a ${spec.keyLength * 8}-bit key and a 4-byte salt: ${spec.keymatLength} bytes, not ${keymat.length}`);
  }
  const algorithm = spec.algorithm;
  const icv = spec.icvLength as 8 | 12 | 16;
  const esnText = kv.get("esn");
  const esn = esnText !== undefined;
  const esnHigh = esn ? u32(origin, "esn", esnText) : 0;
  return redactKeys<EspKey>({
    origin,
    family: 0,
    src: addrPattern(origin, "src", kv.get("src") ?? "*", 0),
    dst: addrPattern(origin, "dst", kv.get("dst") ?? "*", 0),
    spi,
    algorithm,
    keymat,
    icvLength: icv,
    esn,
    esnHigh,
    name: spec.keyword,
  }, ["keymat"]);
}

/** The first sequence number to send, from an --sa spec's seq= (for encap; default 1). */
export function saSpecFirstSeq(spec: string): bigint {
  const m = /(?:^|,)\s*seq=([^,]*)/.exec(spec);
  if (!m) return 1n;
  const t = m[1].trim();
  if (!/^(0x[0-9a-fA-F]{1,16}|\d{1,20})$/.test(t)) keyError("--sa", `seq '${t}' is not a number`);
  const v = BigInt(t);
  if (v < 1n || v > 0xffffffffffffffffn) keyError("--sa", "seq must be from 1 to 2^64-1");
  return v;
}

function matches(p: AddrPattern, family: 4 | 6, expanded: string): boolean {
  if (p.any) return true;
  if (p.exact !== undefined) return p.exact === expanded;
  return p.re!.test(expanded) && (family === 4) === !expanded.includes(":");
}

/** Keys from every source, looked up as the first matching entry (--sa entries first). */
export class KeyStore {
  readonly entries: EspKey[] = [];
  private readonly cli: EspKey[] = [];
  private readonly files: EspKey[] = [];

  addSa(k: EspKey): void {
    this.cli.push(k);
    this.rebuild();
  }

  addFile(keys: EspKey[]): void {
    this.files.push(...keys);
    this.rebuild();
  }

  private rebuild(): void {
    this.entries.length = 0;
    this.entries.push(...this.cli, ...this.files);
  }

  /** The key for an ESP packet from src to dst (expanded text forms, see expandAddr) with this SPI. */
  lookup(family: 4 | 6, src: string, dst: string, spi: number): EspKey | undefined {
    for (const k of this.entries) {
      if (k.family !== 0 && k.family !== family) continue;
      if (((spi & k.spi.mask) >>> 0) !== k.spi.value) continue;
      if (!matches(k.src, family, src) || !matches(k.dst, family, dst)) continue;
      return k;
    }
    return undefined;
  }
}
