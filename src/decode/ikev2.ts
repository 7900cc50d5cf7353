/**
 * The ikev2 layer (RFC 7296 §3.1 header, §3.2 generic payload header).
 *
 * The payloads' contents, and the SK payload decrypted with keys from Wireshark's
 * ikev2_decryption_table, come from the IKEv2 codec of src/ike/ (decodeIkeMessage), registered
 * by default. registerIkeCodec(undefined) falls back to this file's own parser: the header and
 * the payload chain (type, name, critical bit, length), the SK payload "no-key". (The codec
 * decrypts with its synchronous crypto provider: node:crypto in Node; a page sets one with
 * src/ike's setIkeCrypto.)
 */
import { EXCHANGE_NAMES, PAYLOAD_NAMES } from "../ike/constants.js";
import { decodeIkeMessage } from "../ike/message.js";
import { parseIkev2DecryptionTable } from "../ike/wireshark-keys.js";
import { hex, type FieldValue, type Layer } from "./layers.js";

/** What the decoder needs of src/ike (its decodeIkeMessage and parseIkev2DecryptionTable). */
export interface IkeCodec {
  decodeIkeMessage(bytes: Uint8Array, keys?: unknown): unknown;
  parseIkev2DecryptionTable(text: string): unknown[];
}

let codec: IkeCodec | undefined = {
  decodeIkeMessage: (bytes, keys) => decodeIkeMessage(bytes, keys as Parameters<typeof decodeIkeMessage>[1]),
  parseIkev2DecryptionTable,
};

/** Replace the IKEv2 codec (default: src/ike's); undefined: header and payload chain only. */
export function registerIkeCodec(c: IkeCodec | undefined): void {
  codec = c;
}

export function ikeCodec(): IkeCodec | undefined {
  return codec;
}

/** RFC 7296 §3.1 exchange names (src/ike/constants.ts, the one table). */
export const IKE_EXCHANGES: Readonly<Record<number, string>> = EXCHANGE_NAMES;

/** RFC 7296 §3.2 payload names; the built-in parser cannot tell Ni from Nr. */
export const IKE_PAYLOADS: Readonly<Record<number, string>> = { ...PAYLOAD_NAMES, 40: "Ni/Nr" };

const be16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const be32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** JSON-safe copy of whatever the codec returns: bigint → decimal string, bytes → hex. */
function plain(v: unknown, depth = 0): FieldValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (v instanceof Uint8Array) return hex(v);
  if (depth > 8) return null;
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  if (typeof v === "object") {
    const o: { [k: string]: FieldValue } = {};
    const r = v as Record<string, unknown>;
    for (const k in r) {
      if (!Object.hasOwn(r, k)) continue;
      const x = r[k];
      if (typeof x !== "function") o[k] = plain(x, depth + 1);
    }
    return o;
  }
  return null;
}

/**
 * plain() of the codec's payload list, each without its raw `body` and with `offset` moved by
 * `shift` (appended when missing), in one pass: what plain(list.map(({ body, ...p }) =>
 * ({ ...p, offset: (p.offset ?? 0) + shift }))) gives, without the intermediate objects.
 */
function plainPayloads(list: ReadonlyArray<Record<string, unknown>>, shift: number | undefined): FieldValue[] {
  const out: FieldValue[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    const o: { [k: string]: FieldValue } = {};
    let hasOffset = false;
    for (const k in p) {
      if (k === "body" || !Object.hasOwn(p, k)) continue;
      if (shift !== undefined && k === "offset") {
        hasOffset = true;
        o.offset = ((p.offset as number | undefined) ?? 0) + shift;
        continue;
      }
      const x = p[k];
      if (typeof x !== "function") o[k] = plain(x, 2);
    }
    if (shift !== undefined && !hasOffset) o.offset = shift;
    out[i] = o;
  }
  return out;
}

export interface IkeKeysTable {
  /** IkeSaKeys as parseIkev2DecryptionTable returns them; the codec picks by SPIs. */
  keys: unknown[];
}

/**
 * Decode the IKE message at b[off..end) into an ikev2 layer. Returns "" or an error name.
 * With a codec and keys, the key whose ICV verifies is used (found once per IKE SA).
 */
export function parseIkev2(b: Uint8Array, src: number, off: number, end: number, layers: Layer[], table?: IkeKeysTable): string {
  const n = end - off;
  if (n < 28) {
    layers.push({ name: "ikev2", source: src, offset: off, length: n, fields: { error: "truncated" } });
    return "bad-ike";
  }
  const length = be32(b, off + 24);
  const ex = b[off + 18];
  const flags = b[off + 19];
  const fields: Layer["fields"] = {
    initiatorSpi: hex(b, off, 8),
    responderSpi: hex(b, off + 8, 8),
    nextPayload: b[off + 16],
    version: `${b[off + 17] >> 4}.${b[off + 17] & 15}`,
    exchangeType: ex,
    exchangeName: IKE_EXCHANGES[ex] ?? `exchange ${ex}`,
    flags,
    initiator: (flags & 0x08) !== 0,
    response: (flags & 0x20) !== 0,
    messageId: be32(b, off + 20),
    length,
  };
  const layer: Layer = { name: "ikev2", source: src, offset: off, length: Math.min(n, Math.max(length, 28)), fields };
  layers.push(layer);
  if (length < 28 || length > n) {
    fields.error = "bad-length";
    return "bad-ike";
  }
  if (codec) {
    // The codec throws on a malformed message and the layer keeps only the message text: a
    // stack trace captured per bad message would be the costliest part of decoding it.
    const E = Error as { stackTraceLimit?: number };
    const limit = E.stackTraceLimit;
    E.stackTraceLimit = 0;
    try {
      const msg = codec.decodeIkeMessage(b.subarray(off, off + length), table && table.keys.length ? table.keys : undefined) as {
        payloads?: Array<{ offset?: number; body?: unknown }>;
        decrypted?: Array<{ body?: unknown }>;
        icv?: string;
      };
      // Payload offsets become offsets in the layer's source (decrypted ones stay relative to
      // the SK plaintext); raw bodies are left out (their fields are decoded).
      fields.payloads = plainPayloads((msg.payloads ?? []) as Record<string, unknown>[], off);
      if (msg.decrypted) fields.decrypted = plainPayloads(msg.decrypted as Record<string, unknown>[], undefined);
      if (msg.icv) fields.icv = msg.icv;
      return msg.icv === "bad" ? "integrity-failure" : msg.icv === "no-key" ? "no-key" : "";
    } catch (e) {
      fields.error = e instanceof Error ? e.message : String(e);
      return "bad-ike";
    } finally {
      E.stackTraceLimit = limit;
    }
  }
  // Built-in: the generic payload chain (RFC 7296 §3.2).
  const payloads: { [k: string]: FieldValue }[] = [];
  let next = b[off + 16];
  let p = off + 28;
  const stop = off + length;
  while (next !== 0 && p + 4 <= stop) {
    const plen = be16(b, p + 2);
    if (plen < 4 || p + plen > stop) {
      fields.error = `payload ${IKE_PAYLOADS[next] ?? next} has a bad length ${plen}`;
      fields.payloads = payloads;
      return "bad-ike";
    }
    const item: { [k: string]: FieldValue } = { type: next, name: IKE_PAYLOADS[next] ?? `payload ${next}`, critical: (b[p + 1] & 0x80) !== 0, offset: p, length: plen };
    if (next === 46 || next === 53) item.icv = "no-key";
    payloads.push(item);
    if (next === 46 || next === 53) break; // the rest is encrypted
    next = b[p];
    p += plen;
  }
  fields.payloads = payloads;
  return "";
}
