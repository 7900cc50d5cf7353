/**
 * IKEv2 messages (RFC 7296 §3.1 header, §3.2 payload chain), decoded and encoded.
 *
 * Decoding, in order:
 *  1. Header: 28 bytes; major version 2 (else ERR_IKE_VERSION, §3.1); Length ≥ 28.
 *  2. Length against the buffer: shorter → ERR_IKE_TRUNCATED; longer → ERR_IKE_TRAILING
 *     (the caller may pass `bytes.subarray(0, header.length)` to ignore trailing bytes).
 *  3. The payload chain from the header's Next Payload: each generic header whole, Payload
 *     Length ≥ 4 and inside the message; an unknown type with the critical bit → ERR_IKE_CRITICAL
 *     (§2.5, answer UNSUPPORTED_CRITICAL_PAYLOAD with the type as data), without it → kept as
 *     "unknown-<n>"; SK/SKF must be last (§3.14); after Next Payload 0 no byte may remain.
 *     Every payload advances by ≥ 4 bytes, so a chain cannot loop.
 *  4. With keys for the SPIs: open SK (or SKF) — icv "ok" | "bad" — and decode the inner chain.
 */
import * as C from "./constants.js";
import { concat, put16, put32, toHex, u16, u32 } from "./bytes.js";
import { ikeCrypto, runAsync, runSync, type CryptoSteps, type IkeCrypto, type IkeCryptoSync } from "./crypto.js";
import { authenticatedError, IkeError, malformed, truncated } from "./errors.js";
import { decodeBody, encodeBody, KNOWN_PAYLOADS, type Fields } from "./payloads.js";
import { openSk, sealSk, skBodyLength, skPadding, skSuite, type SkKeys } from "./sk.js";

export interface IkeHeader {
  spiI: Uint8Array;
  spiR: Uint8Array;
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  flags: { initiator: boolean; version: boolean; response: boolean };
  messageId: number;
  length: number;
}

export interface IkePayload {
  type: number;
  /** "SA", "KE", "Ni", "Nr", "IDi", … "SKF", or "unknown-<n>". */
  name: string;
  critical: boolean;
  /** Offset of the generic payload header: in the message, or in the decrypted plaintext for inner payloads. */
  offset: number;
  /** Payload Length: generic header + body. */
  length: number;
  body: Uint8Array;
  /** Decoded, JSON-friendly: numbers, strings (hex for bytes), arrays. */
  fields: Record<string, unknown>;
}

export interface IkeMessage {
  header: IkeHeader;
  payloads: IkePayload[];
  /** Inner payloads of SK after decryption (offsets relative to the decrypted plaintext). */
  decrypted?: IkePayload[];
  /** Whether the SK/SKF ICV verified; "no-key" when there is SK/SKF but no keys for these SPIs. */
  icv?: "ok" | "bad" | "no-key";
}

/** Keys of one IKE SA (both directions), as a Wireshark ikev2_decryption_table line holds them. */
export interface IkeSaKeys {
  spiI: Uint8Array;
  spiR: Uint8Array;
  /** ENCR transform ID, e.g. ENCR_AES_GCM_16 = 20. */
  encr: number;
  /** Key length in bits (AES: 128/192/256; ChaCha20-Poly1305: 256). */
  keyLen: number;
  /** INTEG transform ID (absent or 0 for AEADs). */
  integ?: number;
  /** SK_ei / SK_er; for AEADs key ‖ 4-byte salt (as Wireshark and RFC 5282 §7.1 have it). */
  skEi: Uint8Array;
  skEr: Uint8Array;
  skAi?: Uint8Array;
  skAr?: Uint8Array;
}

// ---- header ----

/** Decode the 28-byte IKE header (§3.1). Throws ERR_IKE_TRUNCATED, ERR_IKE_VERSION, ERR_IKE_MALFORMED. */
export function decodeIkeHeader(bytes: Uint8Array): IkeHeader {
  if (!(bytes instanceof Uint8Array)) throw new IkeError("ERR_INPUT_TYPE", "an IKE message must be a Uint8Array");
  if (bytes.length < C.IKE_HEADER_LEN) truncated(`IKE header needs 28 bytes, got ${bytes.length}`, 0);
  const majorVersion = bytes[17] >> 4;
  const flags = bytes[19];
  const h: IkeHeader = {
    spiI: bytes.slice(0, 8),
    spiR: bytes.slice(8, 16),
    nextPayload: bytes[16],
    majorVersion,
    minorVersion: bytes[17] & 0x0f,
    exchangeType: bytes[18],
    flags: {
      initiator: (flags & C.IKE_FLAG_INITIATOR) !== 0,
      version: (flags & C.IKE_FLAG_VERSION) !== 0,
      response: (flags & C.IKE_FLAG_RESPONSE) !== 0,
    },
    messageId: u32(bytes, 20),
    length: u32(bytes, 24),
  };
  if (majorVersion !== C.IKE_MAJOR_VERSION) {
    // §3.1: drop messages with a higher major version; answer INVALID_MAJOR_VERSION.
    throw new IkeError("ERR_IKE_VERSION", `IKE major version ${majorVersion}, not 2${majorVersion === 1 ? " (IKEv1/ISAKMP)" : ""}`, {
      notifyType: C.N_INVALID_MAJOR_VERSION,
      offset: 17,
    });
  }
  if (h.length < C.IKE_HEADER_LEN) malformed(`IKE header Length ${h.length} < 28`, 24);
  return h;
}

function encodeHeader(h: IkeMessageInput["header"], nextPayload: number, length: number): Uint8Array {
  const b = new Uint8Array(C.IKE_HEADER_LEN);
  const spiI = h.spiI ?? new Uint8Array(8);
  const spiR = h.spiR ?? new Uint8Array(8);
  if (spiI.length !== 8 || spiR.length !== 8) throw new IkeError("ERR_INPUT_TYPE", "IKE SPIs are 8 bytes");
  b.set(spiI, 0);
  b.set(spiR, 8);
  b[16] = nextPayload;
  b[17] = ((h.majorVersion ?? C.IKE_MAJOR_VERSION) << 4) | ((h.minorVersion ?? C.IKE_MINOR_VERSION) & 0x0f);
  b[18] = h.exchangeType;
  const f = h.flags ?? {};
  b[19] = (f.initiator ? C.IKE_FLAG_INITIATOR : 0) | (f.version ? C.IKE_FLAG_VERSION : 0) | (f.response ? C.IKE_FLAG_RESPONSE : 0);
  put32(b, 20, h.messageId ?? 0);
  put32(b, 24, length);
  return b;
}

// ---- payload chain ----

/** The display name of a payload type; Nonce is "Ni" from the original initiator, else "Nr". */
export function payloadName(type: number, fromInitiator = true): string {
  if (type === C.PT_NONCE) return fromInitiator ? "Ni" : "Nr";
  return C.PAYLOAD_NAMES[type] ?? `unknown-${type}`;
}

/**
 * Walk a payload chain over `buf[start, end)`, first type `first`. `base` is added to offsets
 * in error messages. `inner`: inside decrypted SK, where SK/SKF may not appear.
 */
function decodeChain(buf: Uint8Array, start: number, end: number, first: number, fromInitiator: boolean, inner: boolean): IkePayload[] {
  const out: IkePayload[] = [];
  let type = first;
  let o = start;
  while (type !== C.PT_NONE) {
    if (end - o < C.PAYLOAD_HDR_LEN) {
      truncated(`payload ${payloadName(type, fromInitiator)} at ${o}: generic header needs 4 bytes, ${end - o} left`, o);
    }
    const next = buf[o];
    const critical = (buf[o + 1] & C.PAYLOAD_CRITICAL) !== 0;
    const len = u16(buf, o + 2);
    if (len < C.PAYLOAD_HDR_LEN) malformed(`payload ${payloadName(type, fromInitiator)} at ${o}: Payload Length ${len} < 4`, o);
    if (o + len > end) truncated(`payload ${payloadName(type, fromInitiator)} at ${o}: ${len} bytes, only ${end - o} left`, o);
    const known = KNOWN_PAYLOADS.has(type);
    if (!known && critical) {
      // §2.5: reject the message; answer UNSUPPORTED_CRITICAL_PAYLOAD, data = the payload type.
      throw new IkeError("ERR_IKE_CRITICAL", `unsupported critical payload type ${type} at ${o} (RFC 7296 §2.5)`, {
        notifyType: C.N_UNSUPPORTED_CRITICAL_PAYLOAD,
        notifyData: Uint8Array.of(type),
        offset: o,
      });
    }
    const body = buf.subarray(o + C.PAYLOAD_HDR_LEN, o + len);
    const encrypted = type === C.PT_SK || type === C.PT_SKF;
    if (encrypted && inner) malformed(`an Encrypted payload inside an Encrypted payload (§3.14) at ${o}`, o);
    const fields = decodeBody(type, body, o + C.PAYLOAD_HDR_LEN);
    if (encrypted) fields.firstInnerPayload = next;
    out.push({ type, name: payloadName(type, fromInitiator), critical, offset: o, length: len, body, fields });
    o += len;
    if (encrypted) {
      // §3.14: the Encrypted payload is the last one; its Next Payload names the first inner one.
      if (o !== end) malformed(`${end - o} bytes after the Encrypted payload, which must be last (§3.14)`, o);
      return out;
    }
    type = next;
  }
  if (o !== end) {
    throw new IkeError(inner ? "ERR_IKE_MALFORMED" : "ERR_IKE_TRAILING", `${end - o} bytes after the last payload (Next Payload 0 at ${o})`, { notifyType: 7, offset: o });
  }
  return out;
}

/** Find the keys of this message's IKE SA, and the direction the message travels. */
function keysFor(h: IkeHeader, keys: IkeSaKeys | readonly IkeSaKeys[] | undefined): SkKeys | undefined {
  if (!keys) return undefined;
  const list = Array.isArray(keys) ? (keys as readonly IkeSaKeys[]) : [keys as IkeSaKeys];
  const hit = list.find((k) => toHex(k.spiI) === toHex(h.spiI) && toHex(k.spiR) === toHex(h.spiR));
  if (!hit) return undefined;
  // §3.1: the I flag says the sender is the original initiator → it encrypts with SK_ei/SK_ai.
  const i = h.flags.initiator;
  return {
    encr: hit.encr,
    keyLen: hit.keyLen,
    integ: hit.integ || undefined,
    encKey: i ? hit.skEi : hit.skEr,
    integKey: i ? hit.skAi : hit.skAr,
  };
}

function* decodeSteps(bytes: Uint8Array, keys: IkeSaKeys | readonly IkeSaKeys[] | undefined): CryptoSteps<IkeMessage> {
  const header = decodeIkeHeader(bytes);
  if (bytes.length < header.length) truncated(`IKE header Length ${header.length} but only ${bytes.length} bytes`, 24);
  if (bytes.length > header.length) {
    throw new IkeError("ERR_IKE_TRAILING", `${bytes.length - header.length} bytes after the IKE message Length ${header.length}`, { offset: header.length });
  }
  const fromI = header.flags.initiator;
  const payloads = decodeChain(bytes, C.IKE_HEADER_LEN, header.length, header.nextPayload, fromI, false);
  const msg: IkeMessage = { header, payloads };
  const enc = payloads[payloads.length - 1];
  if (!enc || (enc.type !== C.PT_SK && enc.type !== C.PT_SKF)) return msg;
  const k = keysFor(header, keys);
  if (!k) {
    msg.icv = "no-key";
    return msg;
  }
  const hdrLen = enc.type === C.PT_SKF ? C.SKF_HDR_LEN : C.PAYLOAD_HDR_LEN;
  const prefix = bytes.subarray(0, enc.offset + hdrLen);
  const body = bytes.subarray(enc.offset + hdrLen, enc.offset + enc.length);
  const r = yield* openSk(k, prefix, body);
  msg.icv = r.icv;
  enc.fields.iv = toHex(r.iv);
  enc.fields.icv = toHex(r.icvBytes);
  if (r.icv !== "ok") return msg;
  enc.fields.padLength = r.padLength;
  const inner = r.inner!;
  const first = enc.fields.firstInnerPayload as number;
  if (enc.type === C.PT_SKF && (enc.fields.totalFragments as number) > 1) {
    // RFC 7383 §2.6: fragments are reassembled before their payloads are parsed.
    enc.fields.plaintext = toHex(inner);
    return msg;
  }
  try {
    msg.decrypted = decodeChain(inner, 0, inner.length, first, fromI, true);
  } catch (e) {
    authenticatedError(e);
  }
  return msg;
}

/**
 * Decode an IKEv2 message; with keys for its SPIs, open its SK (or single SKF) payload too.
 * Never throws anything but IpsecError (codes ERR_IKE_*). A bad ICV is reported in `icv`,
 * not thrown. Uses the synchronous crypto provider (node:crypto by default) only when
 * decrypting; in a browser use decodeIkeMessageAsync.
 */
export function decodeIkeMessage(bytes: Uint8Array, keys?: IkeSaKeys | readonly IkeSaKeys[], crypto?: IkeCryptoSync): IkeMessage {
  return runSync(decodeSteps(bytes, keys), crypto ?? ikeCrypto);
}

/** decodeIkeMessage with an async provider (default: webIkeCrypto() — WebCrypto + wasm). */
export async function decodeIkeMessageAsync(bytes: Uint8Array, keys?: IkeSaKeys | readonly IkeSaKeys[], crypto?: IkeCrypto): Promise<IkeMessage> {
  return runAsync(decodeSteps(bytes, keys), crypto ?? (await defaultAsync()));
}

async function defaultAsync(): Promise<IkeCrypto> {
  const { webIkeCrypto } = await import("./crypto.js");
  return webIkeCrypto();
}

// ---- encoding ----

export interface IkePayloadInput {
  type: number;
  critical?: boolean;
  /** Fields as decodeIkeMessage returns them (bytes as hex or Uint8Array). */
  fields?: Record<string, unknown>;
  /** Raw body, used when `fields` is absent. */
  body?: Uint8Array;
  /** For SK: the payloads to encrypt (needs keys). */
  inner?: IkePayloadInput[];
}

export interface IkeMessageInput {
  header: {
    spiI?: Uint8Array;
    spiR?: Uint8Array;
    exchangeType: number;
    flags?: { initiator?: boolean; version?: boolean; response?: boolean };
    messageId?: number;
    majorVersion?: number;
    minorVersion?: number;
  };
  payloads: IkePayloadInput[];
}

export interface EncodeOptions {
  /** IV of the SK payload (default: random bytes from `randomBytes`). */
  iv?: Uint8Array;
  /** Padding length (default: the least that aligns; 0 for AEADs). */
  padLength?: number;
  /** Random source for the IV (default: globalThis.crypto.getRandomValues). */
  randomBytes?: (n: number) => Uint8Array;
}

function bodyOf(p: IkePayloadInput): Uint8Array {
  if (p.fields !== undefined) return encodeBody(p.type, p.fields as Fields);
  if (p.body !== undefined) return p.body;
  throw new IkeError("ERR_INPUT_TYPE", `payload ${p.type} has neither fields nor body`);
}

/** Generic headers + bodies, chained; the last Next Payload is `lastNext`. */
function encodeChain(ps: readonly { p: IkePayloadInput; body: Uint8Array }[], lastNext: number): Uint8Array {
  return concat(
    ps.map(({ p, body }, i) => {
      const len = C.PAYLOAD_HDR_LEN + body.length;
      if (len > 0xffff) throw new IkeError("ERR_INPUT_TYPE", `payload ${p.type} of ${len} bytes exceeds 65535`);
      const x = new Uint8Array(len);
      x[0] = i + 1 < ps.length ? ps[i + 1].p.type : lastNext;
      x[1] = p.critical ? C.PAYLOAD_CRITICAL : 0;
      put16(x, 2, len);
      x.set(body, 4);
      return x;
    }),
  );
}

function* encodeSteps(msg: IkeMessageInput, keys: IkeSaKeys | undefined, opts: EncodeOptions): CryptoSteps<Uint8Array> {
  const ps = msg.payloads;
  const skAt = ps.findIndex((p) => p.type === C.PT_SK && p.inner !== undefined);
  if (skAt < 0) {
    const chain = encodeChain(ps.map((p) => ({ p, body: bodyOf(p) })), C.PT_NONE);
    const total = C.IKE_HEADER_LEN + chain.length;
    return concat([encodeHeader(msg.header, ps[0]?.type ?? C.PT_NONE, total), chain]);
  }
  if (skAt !== ps.length - 1) throw new IkeError("ERR_INPUT_TYPE", "the Encrypted payload must be the last payload (§3.14)");
  if (!keys) throw new IkeError("ERR_INPUT_TYPE", "an SK payload with inner payloads needs keys");
  const sk = ps[skAt];
  const innerPs = sk.inner!;
  const innerBytes = encodeChain(innerPs.map((p) => ({ p, body: bodyOf(p) })), C.PT_NONE);
  const before = ps.slice(0, skAt).map((p) => ({ p, body: bodyOf(p) }));
  const h = { ...msg.header, spiI: msg.header.spiI ?? keys.spiI, spiR: msg.header.spiR ?? keys.spiR };
  if (toHex(h.spiI) !== toHex(keys.spiI) || toHex(h.spiR) !== toHex(keys.spiR)) {
    throw new IkeError("ERR_INPUT_TYPE", "the header's SPIs are not those of the keys' IKE SA");
  }
  const i = h.flags?.initiator ?? false;
  const k: SkKeys = { encr: keys.encr, keyLen: keys.keyLen, integ: keys.integ || undefined, encKey: i ? keys.skEi : keys.skEr, integKey: i ? keys.skAi : keys.skAr };
  const suite = skSuite(k);
  const pad = skPadding(suite, innerBytes.length, opts.padLength);
  const skLen = C.PAYLOAD_HDR_LEN + skBodyLength(suite, innerBytes.length, pad);
  if (skLen > 0xffff) throw new IkeError("ERR_INPUT_TYPE", `SK payload of ${skLen} bytes exceeds 65535`);
  const beforeBytes = encodeChain(before, C.PT_SK);
  const total = C.IKE_HEADER_LEN + beforeBytes.length + skLen;
  const skHdr = new Uint8Array(C.PAYLOAD_HDR_LEN);
  skHdr[0] = innerPs[0]?.type ?? C.PT_NONE;
  skHdr[1] = sk.critical ? C.PAYLOAD_CRITICAL : 0;
  put16(skHdr, 2, skLen);
  const prefix = concat([encodeHeader(h, ps[0].type, total), beforeBytes, skHdr]);
  const iv = opts.iv ?? (opts.randomBytes ?? defaultRandom)(suite.ivLen);
  const skBody = yield* sealSk(k, prefix, innerBytes, iv, pad);
  return concat([prefix, skBody]);
}

function defaultRandom(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

/**
 * Encode an IKEv2 message. Payload Lengths, Next Payload links, the header Length and the
 * Last Substruc / counts inside SA and TS are computed. An SK payload given `inner` payloads
 * is encrypted with `keys` in the direction the I flag says.
 */
export function encodeIkeMessage(msg: IkeMessageInput, keys?: IkeSaKeys, options: EncodeOptions = {}, crypto?: IkeCryptoSync): Uint8Array {
  return runSync(encodeSteps(msg, keys, options), crypto ?? ikeCrypto);
}

export async function encodeIkeMessageAsync(msg: IkeMessageInput, keys?: IkeSaKeys, options: EncodeOptions = {}, crypto?: IkeCrypto): Promise<Uint8Array> {
  return runAsync(encodeSteps(msg, keys, options), crypto ?? (await defaultAsync()));
}
