/** Small byte helpers for the IKE codec (big-endian reads, hex, concatenation). */
import { IkeError } from "./errors.js";

export const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
export const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

// Lower-case hex: short inputs by a table of the 256 two-digit strings; longer ones through a
// reused buffer of character codes and one TextDecoder call (no string built per byte; the
// decoder hexes every Encrypted payload it cannot open).
const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const BYTE_CODES = new Uint16Array(256).map((_, i) => BYTE_HEX[i].charCodeAt(0) | (BYTE_HEX[i].charCodeAt(1) << 8));
const latin1 = new TextDecoder("latin1");
let codes = new Uint16Array(256);
export function toHex(b: Uint8Array): string {
  const n = b.length;
  if (n < 16) {
    let s = "";
    for (let i = 0; i < n; i++) s += BYTE_HEX[b[i]];
    return s;
  }
  if (codes.length < n) codes = new Uint16Array(Math.max(n, codes.length * 2));
  for (let i = 0; i < n; i++) codes[i] = BYTE_CODES[b[i]];
  // A little-endian u16 holds the two digits in order (every engine we run on is little-endian).
  return latin1.decode(new Uint8Array(codes.buffer, 0, 2 * n));
}

/** Lower- or upper-case hex, even length, nothing else. Throws `code` otherwise. */
export function fromHex(s: string, what = "hex", code: "ERR_IKE_MALFORMED" | "ERR_IKE_KEYFILE" | "ERR_INPUT_TYPE" = "ERR_INPUT_TYPE"): Uint8Array {
  if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new IkeError(code, `${what} must be an even number of hex digits`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time equality of two byte strings of public length (OR-accumulate, one branch). */
export function equalCt(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
