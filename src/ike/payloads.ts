/**
 * Payload bodies of RFC 7296 §3.3–§3.16 (and RFC 7383 §2.5 SKF): bytes after the 4-byte
 * generic header ⇄ JSON-friendly `fields` (numbers, strings, arrays; bytes as lower-case hex).
 *
 * Decoding checks every length before it reads (a body too short for its fixed part, a
 * substructure running past its parent, counts that disagree with the bytes) and throws
 * IkeError ERR_IKE_MALFORMED / ERR_IKE_TRUNCATED. RESERVED fields are ignored on receipt and
 * sent as zero (§3.2), so decode → encode gives back the bytes up to RESERVED bits.
 */
import * as C from "./constants.js";
import { concat, fromHex, put16, toHex, u16 } from "./bytes.js";
import { IkeError, malformed, truncated } from "./errors.js";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../addr.js";

export type Fields = Record<string, unknown>;

const nameOf = (m: Readonly<Record<number, string>>, v: number): string => m[v] ?? `unknown-${v}`;

function need(body: Uint8Array, n: number, what: string, at: number): void {
  if (body.length < n) malformed(`${what}: body of ${body.length} bytes is shorter than its fixed part (${n})`, at);
}

// ---- §3.3 SA ----

function decodeAttributes(b: Uint8Array, at: number): Fields[] {
  const attrs: Fields[] = [];
  let o = 0;
  while (o < b.length) {
    if (b.length - o < 4) truncated(`transform attribute at +${o} needs 4 bytes, ${b.length - o} left`, at + o);
    const t = u16(b, o);
    const type = t & 0x7fff;
    if (t & C.ATTR_FORMAT_TV) {
      // §3.3.5: AF = 1, TV format: the value is the 2-byte "length" field itself.
      attrs.push({ type, name: C.ATTR_NAMES[type] ?? `attribute-${type}`, tv: true, value: u16(b, o + 2) });
      o += 4;
    } else {
      const len = u16(b, o + 2);
      if (o + 4 + len > b.length) truncated(`TLV attribute ${type} of ${len} bytes runs past its transform`, at + o);
      attrs.push({ type, name: C.ATTR_NAMES[type] ?? `attribute-${type}`, tv: false, value: toHex(b.subarray(o + 4, o + 4 + len)) });
      o += 4 + len;
    }
  }
  return attrs;
}

function decodeSa(b: Uint8Array, at: number): Fields {
  const proposals: Fields[] = [];
  let o = 0;
  if (b.length === 0) malformed("SA payload without a proposal (§3.3)", at);
  while (o < b.length) {
    if (b.length - o < C.PROPOSAL_HDR_LEN) truncated(`proposal at +${o} needs 8 bytes, ${b.length - o} left`, at + o);
    const last = b[o];
    const plen = u16(b, o + 2);
    const number = b[o + 4];
    const protocolId = b[o + 5];
    const spiSize = b[o + 6];
    const numTransforms = b[o + 7];
    if (plen < C.PROPOSAL_HDR_LEN + spiSize) malformed(`proposal length ${plen} < 8 + SPI size ${spiSize}`, at + o);
    if (o + plen > b.length) truncated(`proposal of ${plen} bytes runs past the SA payload`, at + o);
    const isLast = o + plen === b.length;
    // §3.3.1: "Last Substruc" is 0 for the last proposal and 2 when more follow.
    if (last !== (isLast ? C.LAST_SUBSTRUC_LAST : C.LAST_SUBSTRUC_MORE_PROPOSALS)) {
      malformed(`proposal ${number}: Last Substruc ${last} but ${isLast ? "it is the last" : "more follow"} (§3.3.1)`, at + o);
    }
    const spi = toHex(b.subarray(o + 8, o + 8 + spiSize));
    const end = o + plen;
    let t = o + 8 + spiSize;
    const transforms: Fields[] = [];
    while (t < end) {
      if (end - t < C.TRANSFORM_HDR_LEN) truncated(`transform at +${t} needs 8 bytes`, at + t);
      const tlast = b[t];
      const tlen = u16(b, t + 2);
      if (tlen < C.TRANSFORM_HDR_LEN) malformed(`transform length ${tlen} < 8`, at + t);
      if (t + tlen > end) truncated(`transform of ${tlen} bytes runs past its proposal`, at + t);
      const tIsLast = t + tlen === end;
      if (tlast !== (tIsLast ? C.LAST_SUBSTRUC_LAST : C.LAST_SUBSTRUC_MORE_TRANSFORMS)) {
        malformed(`transform: Last Substruc ${tlast} but ${tIsLast ? "it is the last" : "more follow"} (§3.3.2)`, at + t);
      }
      const type = b[t + 4];
      const id = u16(b, t + 6);
      const attributes = decodeAttributes(b.subarray(t + 8, t + tlen), at + t + 8);
      const tf: Fields = { type, typeName: nameOf(C.TRANSFORM_TYPE_NAMES, type), id, name: transformName(type, id), attributes };
      const kl = attributes.find((a) => a.type === C.ATTR_KEY_LENGTH && a.tv);
      if (kl) tf.keyLength = kl.value;
      transforms.push(tf);
      t += tlen;
    }
    if (transforms.length !== numTransforms) {
      malformed(`proposal ${number} says ${numTransforms} transforms but holds ${transforms.length} (§3.3.1)`, at + o);
    }
    proposals.push({ number, protocolId, protocol: nameOf(C.PROTOCOL_NAMES, protocolId), spi, transforms });
    o = end;
  }
  return { proposals };
}

export function transformName(type: number, id: number): string {
  const m =
    type === C.TRANSFORM_ENCR ? C.ENCR_NAMES
    : type === C.TRANSFORM_PRF ? C.PRF_NAMES
    : type === C.TRANSFORM_INTEG ? C.INTEG_NAMES
    : type === C.TRANSFORM_KE ? C.DH_NAMES
    : type === C.TRANSFORM_ESN ? C.ESN_NAMES
    : {};
  return m[id] ?? `unknown-${id}`;
}

function encodeSa(f: Fields): Uint8Array {
  const proposals = arr(f, "proposals");
  const parts = proposals.map((p, i) => {
    const spi = hex(p, "spi", "");
    const transforms = arr(p, "transforms");
    const tparts = transforms.map((t, j) => {
      let attrs = t.attributes === undefined ? [] : arr(t, "attributes");
      if (t.attributes === undefined && t.keyLength !== undefined) attrs = [{ type: C.ATTR_KEY_LENGTH, tv: true, value: num(t, "keyLength") }];
      const ab = concat(
        attrs.map((a) => {
          const type = num(a, "type") & 0x7fff;
          if (a.tv) {
            const x = new Uint8Array(4);
            put16(x, 0, C.ATTR_FORMAT_TV | type);
            put16(x, 2, num(a, "value"));
            return x;
          }
          const v = hex(a, "value");
          const x = new Uint8Array(4 + v.length);
          put16(x, 0, type);
          put16(x, 2, v.length);
          x.set(v, 4);
          return x;
        }),
      );
      const x = new Uint8Array(8 + ab.length);
      x[0] = j === transforms.length - 1 ? C.LAST_SUBSTRUC_LAST : C.LAST_SUBSTRUC_MORE_TRANSFORMS;
      put16(x, 2, x.length);
      x[4] = num(t, "type");
      put16(x, 6, num(t, "id"));
      x.set(ab, 8);
      return x;
    });
    const tb = concat(tparts);
    const x = new Uint8Array(8 + spi.length + tb.length);
    x[0] = i === proposals.length - 1 ? C.LAST_SUBSTRUC_LAST : C.LAST_SUBSTRUC_MORE_PROPOSALS;
    put16(x, 2, x.length);
    x[4] = p.number === undefined ? i + 1 : num(p, "number");
    x[5] = num(p, "protocolId");
    x[6] = spi.length;
    x[7] = transforms.length;
    x.set(spi, 8);
    x.set(tb, 8 + spi.length);
    return x;
  });
  return concat(parts);
}

// ---- §3.5 ID ----

function idValue(type: number, d: Uint8Array, at: number): string {
  switch (type) {
    case C.ID_IPV4_ADDR:
      if (d.length !== 4) malformed(`ID_IPV4_ADDR of ${d.length} bytes (must be 4)`, at);
      return formatIPv4(d);
    case C.ID_IPV6_ADDR:
      if (d.length !== 16) malformed(`ID_IPV6_ADDR of ${d.length} bytes (must be 16)`, at);
      return formatIPv6(d);
    case C.ID_FQDN:
    case C.ID_RFC822_ADDR:
      // §3.5: "a fully-qualified domain name string" / "email address", no terminator.
      return printable(d) ? String.fromCharCode(...d) : toHex(d);
    default:
      return toHex(d); // DN, GN, KEY_ID and others: opaque bytes
  }
}

function printable(d: Uint8Array): boolean {
  for (const c of d) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

function encodeIdData(f: Fields): Uint8Array {
  if (f.data !== undefined) return hex(f, "data");
  const type = num(f, "idType");
  const v = str(f, "value");
  if (type === C.ID_IPV4_ADDR || type === C.ID_IPV6_ADDR) {
    const a = type === C.ID_IPV4_ADDR ? parseIPv4(v) : parseIPv6(v);
    if (!a) throw new IkeError("ERR_INPUT_TYPE", `ID value '${v}' is not an ${type === C.ID_IPV4_ADDR ? "IPv4" : "IPv6"} address`);
    return a;
  }
  if (type === C.ID_FQDN || type === C.ID_RFC822_ADDR) return Uint8Array.from(v, (c) => c.charCodeAt(0) & 0xff);
  return fromHex(v, "ID value");
}

// ---- §3.13 TS ----

function decodeTs(b: Uint8Array, at: number): Fields {
  need(b, 4, "TS", at);
  const count = b[0];
  const selectors: Fields[] = [];
  let o = 4;
  for (let i = 0; i < count; i++) {
    if (b.length - o < 4) truncated(`traffic selector ${i + 1} of ${count} needs 4 bytes, ${b.length - o} left`, at + o);
    const tsType = b[o];
    const ipProtocol = b[o + 1];
    const len = u16(b, o + 2);
    if (len < 4) malformed(`traffic selector length ${len} < 4`, at + o);
    if (o + len > b.length) truncated(`traffic selector of ${len} bytes runs past the payload`, at + o);
    const s: Fields = { tsType, tsTypeName: nameOf(C.TS_NAMES, tsType), ipProtocol };
    if (tsType === C.TS_IPV4_ADDR_RANGE || tsType === C.TS_IPV6_ADDR_RANGE) {
      const want = tsType === C.TS_IPV4_ADDR_RANGE ? C.TS_IPV4_LEN : C.TS_IPV6_LEN;
      if (len !== want) malformed(`${s.tsTypeName} with Selector Length ${len} (must be ${want}, §3.13.1)`, at + o);
      const al = (want - 8) / 2;
      const fmt = al === 4 ? formatIPv4 : formatIPv6;
      s.startPort = u16(b, o + 4);
      s.endPort = u16(b, o + 6);
      s.startAddress = fmt(b.subarray(o + 8, o + 8 + al));
      s.endAddress = fmt(b.subarray(o + 8 + al, o + 8 + 2 * al));
    } else {
      s.data = toHex(b.subarray(o + 4, o + len));
    }
    selectors.push(s);
    o += len;
  }
  if (o !== b.length) malformed(`${b.length - o} bytes after the ${count} traffic selectors the TS payload announces`, at + o);
  return { count, selectors };
}

function encodeTs(f: Fields): Uint8Array {
  const sels = arr(f, "selectors");
  const parts = sels.map((s) => {
    const tsType = num(s, "tsType");
    if (tsType === C.TS_IPV4_ADDR_RANGE || tsType === C.TS_IPV6_ADDR_RANGE) {
      const v4 = tsType === C.TS_IPV4_ADDR_RANGE;
      const parse = v4 ? parseIPv4 : parseIPv6;
      const a = parse(str(s, "startAddress"));
      const z = parse(str(s, "endAddress"));
      if (!a || !z) throw new IkeError("ERR_INPUT_TYPE", `traffic selector addresses are not ${v4 ? "IPv4" : "IPv6"}`);
      const x = new Uint8Array(v4 ? C.TS_IPV4_LEN : C.TS_IPV6_LEN);
      x[0] = tsType;
      x[1] = num(s, "ipProtocol");
      put16(x, 2, x.length);
      put16(x, 4, num(s, "startPort"));
      put16(x, 6, num(s, "endPort"));
      x.set(a, 8);
      x.set(z, 8 + a.length);
      return x;
    }
    const d = hex(s, "data", "");
    const x = new Uint8Array(4 + d.length);
    x[0] = tsType;
    x[1] = num(s, "ipProtocol");
    put16(x, 2, x.length);
    x.set(d, 4);
    return x;
  });
  const head = new Uint8Array(4);
  head[0] = sels.length;
  return concat([head, ...parts]);
}

// ---- §3.15 CP ----

function cpText(type: number, v: Uint8Array): string | undefined {
  if ([1, 2, 3, 4, 6].includes(type) && v.length === 4) return formatIPv4(v);
  if ([10, 12].includes(type) && v.length === 16) return formatIPv6(v);
  if ([8, 15].includes(type) && v.length === 17) return `${formatIPv6(v.subarray(0, 16))}/${v[16]}`;
  if (type === 13 && v.length === 8) return `${formatIPv4(v.subarray(0, 4))}/${formatIPv4(v.subarray(4))}`;
  if (type === 7 && printable(v)) return String.fromCharCode(...v);
  return undefined;
}

function decodeCp(b: Uint8Array, at: number): Fields {
  need(b, 4, "CP", at);
  const cfgType = b[0];
  const attributes: Fields[] = [];
  let o = 4;
  while (o < b.length) {
    if (b.length - o < 4) truncated(`configuration attribute at +${o} needs 4 bytes`, at + o);
    const type = u16(b, o) & 0x7fff; // §3.15.1: first bit reserved
    const len = u16(b, o + 2);
    if (o + 4 + len > b.length) truncated(`configuration attribute ${type} of ${len} bytes runs past the payload`, at + o);
    const v = b.subarray(o + 4, o + 4 + len);
    const a: Fields = { type, name: nameOf(C.CFG_ATTR_NAMES, type), value: toHex(v) };
    const text = cpText(type, v);
    if (text !== undefined) a.text = text;
    attributes.push(a);
    o += 4 + len;
  }
  return { cfgType, cfgTypeName: nameOf(C.CFG_TYPE_NAMES, cfgType), attributes };
}

function encodeCp(f: Fields): Uint8Array {
  const head = new Uint8Array(4);
  head[0] = num(f, "cfgType");
  const parts = arr(f, "attributes").map((a) => {
    const v = hex(a, "value", "");
    const x = new Uint8Array(4 + v.length);
    put16(x, 0, num(a, "type") & 0x7fff);
    put16(x, 2, v.length);
    x.set(v, 4);
    return x;
  });
  return concat([head, ...parts]);
}

// ---- dispatch ----

export const KNOWN_PAYLOADS: ReadonlySet<number> = new Set(Object.keys(C.PAYLOAD_NAMES).map(Number));

/**
 * Decode the body of a payload of `type` into fields. `at` is the body's offset in the
 * message (for error messages). SK and SKF bodies are described, not decrypted, here.
 */
export function decodeBody(type: number, b: Uint8Array, at: number): Fields {
  switch (type) {
    case C.PT_SA:
      return decodeSa(b, at);
    case C.PT_KE:
      need(b, 4, "KE", at);
      return { group: u16(b, 0), groupName: nameOf(C.DH_NAMES, u16(b, 0)), keyData: toHex(b.subarray(4)) };
    case C.PT_IDI:
    case C.PT_IDR: {
      need(b, 4, "ID", at);
      const d = b.subarray(4);
      return { idType: b[0], idTypeName: nameOf(C.ID_NAMES, b[0]), value: idValue(b[0], d, at + 4), data: toHex(d) };
    }
    case C.PT_CERT:
    case C.PT_CERTREQ:
      need(b, 1, type === C.PT_CERT ? "CERT" : "CERTREQ", at);
      return { encoding: b[0], encodingName: nameOf(C.CERT_NAMES, b[0]), data: toHex(b.subarray(1)) };
    case C.PT_AUTH:
      need(b, 4, "AUTH", at);
      return { method: b[0], methodName: nameOf(C.AUTH_METHOD_NAMES, b[0]), data: toHex(b.subarray(4)) };
    case C.PT_NONCE:
      return { nonce: toHex(b) };
    case C.PT_NOTIFY: {
      need(b, 4, "N", at);
      const spiSize = b[1];
      if (4 + spiSize > b.length) truncated(`Notify SPI of ${spiSize} bytes runs past the payload`, at);
      const notifyType = u16(b, 2);
      return {
        protocolId: b[0],
        spiSize,
        notifyType,
        notifyName: nameOf(C.NOTIFY_NAMES, notifyType),
        kind: notifyType < C.NOTIFY_STATUS_MIN ? "error" : "status",
        spi: toHex(b.subarray(4, 4 + spiSize)),
        data: toHex(b.subarray(4 + spiSize)),
      };
    }
    case C.PT_DELETE: {
      need(b, 4, "D", at);
      const spiSize = b[1];
      const numSpis = u16(b, 2);
      // §3.11: the SPIs fill the rest of the payload exactly.
      if (b.length - 4 !== spiSize * numSpis) {
        malformed(`Delete: ${numSpis} SPIs of ${spiSize} bytes do not fill the ${b.length - 4} bytes after the header`, at);
      }
      const spis: string[] = [];
      for (let i = 0; i < (spiSize === 0 ? 0 : numSpis); i++) spis.push(toHex(b.subarray(4 + i * spiSize, 4 + (i + 1) * spiSize)));
      return { protocolId: b[0], protocol: nameOf(C.PROTOCOL_NAMES, b[0]), spiSize, numSpis, spis };
    }
    case C.PT_VENDOR:
      return { vendorId: toHex(b) };
    case C.PT_TSI:
    case C.PT_TSR:
      return decodeTs(b, at);
    case C.PT_SK:
      return { encrypted: toHex(b) };
    case C.PT_CP:
      return decodeCp(b, at);
    case C.PT_EAP: {
      // Opaque EAP message (RFC 3748 §4): show Code and Identifier when present.
      const f: Fields = { message: toHex(b) };
      if (b.length >= 4) {
        f.code = b[0];
        f.identifier = b[1];
      }
      return f;
    }
    case C.PT_SKF: {
      need(b, 4, "SKF", at);
      const fragmentNumber = u16(b, 0);
      const totalFragments = u16(b, 2);
      // RFC 7383 §2.5: numbered from 1; Fragment Number ≤ Total Fragments.
      if (fragmentNumber === 0 || totalFragments === 0 || fragmentNumber > totalFragments) {
        malformed(`SKF fragment ${fragmentNumber} of ${totalFragments} (RFC 7383 §2.5)`, at);
      }
      return { fragmentNumber, totalFragments, encrypted: toHex(b.subarray(4)) };
    }
    default:
      return { data: toHex(b) };
  }
}

/** Encode fields (as decodeBody returns them) back into a payload body. */
export function encodeBody(type: number, f: Fields): Uint8Array {
  const fixed = (bytes: number[], rest: Uint8Array): Uint8Array => concat([Uint8Array.from(bytes), rest]);
  switch (type) {
    case C.PT_SA:
      return encodeSa(f);
    case C.PT_KE: {
      const g = num(f, "group");
      return fixed([g >> 8, g & 0xff, 0, 0], hex(f, "keyData", ""));
    }
    case C.PT_IDI:
    case C.PT_IDR:
      return fixed([num(f, "idType"), 0, 0, 0], encodeIdData(f));
    case C.PT_CERT:
    case C.PT_CERTREQ:
      return fixed([num(f, "encoding")], hex(f, "data", ""));
    case C.PT_AUTH:
      return fixed([num(f, "method"), 0, 0, 0], hex(f, "data", ""));
    case C.PT_NONCE:
      return hex(f, "nonce");
    case C.PT_NOTIFY: {
      const spi = hex(f, "spi", "");
      const t = num(f, "notifyType");
      return fixed([num(f, "protocolId", 0), spi.length, t >> 8, t & 0xff], concat([spi, hex(f, "data", "")]));
    }
    case C.PT_DELETE: {
      const spis = (f.spis === undefined ? [] : (f.spis as unknown[])).map((s, i) => fromHex(String(s), `spis[${i}]`));
      const spiSize = f.spiSize === undefined ? (spis[0]?.length ?? 0) : num(f, "spiSize");
      const n = f.numSpis === undefined ? spis.length : num(f, "numSpis");
      return fixed([num(f, "protocolId"), spiSize, n >> 8, n & 0xff], concat(spis));
    }
    case C.PT_VENDOR:
      return hex(f, "vendorId");
    case C.PT_TSI:
    case C.PT_TSR:
      return encodeTs(f);
    case C.PT_SK:
      return hex(f, "encrypted");
    case C.PT_CP:
      return encodeCp(f);
    case C.PT_EAP:
      return hex(f, "message");
    case C.PT_SKF: {
      const n = num(f, "fragmentNumber");
      const t = num(f, "totalFragments");
      return fixed([n >> 8, n & 0xff, t >> 8, t & 0xff], hex(f, "encrypted", ""));
    }
    default:
      return hex(f, "data", "");
  }
}

// ---- typed access to caller-supplied fields (encode side) ----

function num(f: Fields, k: string, dflt?: number): number {
  const v = f[k] ?? dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new IkeError("ERR_INPUT_TYPE", `field '${k}' must be a non-negative integer`);
  return v;
}
function str(f: Fields, k: string): string {
  const v = f[k];
  if (typeof v !== "string") throw new IkeError("ERR_INPUT_TYPE", `field '${k}' must be a string`);
  return v;
}
function hex(f: Fields, k: string, dflt?: string): Uint8Array {
  const v = f[k] ?? dflt;
  if (v instanceof Uint8Array) return v;
  if (typeof v !== "string") throw new IkeError("ERR_INPUT_TYPE", `field '${k}' must be hex or a Uint8Array`);
  return fromHex(v, `field '${k}'`);
}
function arr(f: Fields, k: string): Fields[] {
  const v = f[k];
  if (!Array.isArray(v)) throw new IkeError("ERR_INPUT_TYPE", `field '${k}' must be an array`);
  return v as Fields[];
}
