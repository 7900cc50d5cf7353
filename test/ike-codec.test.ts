// IKEv2 message codec (RFC 7296 §3), SK payload (§3.14, RFC 5282, RFC 7634) and the
// Wireshark ikev2_decryption_table parser.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { IpsecError } from "../src/errors.js";
import * as I from "../src/ike/index.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";
import { LINKTYPE_RAW, ipv4Wrap, writePcap } from "./helpers/pcap.js";
import { ensureDebian } from "./helpers/apt.js";

const hx = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const fixture = (name: string): string => readFileSync(new URL(`./fixtures/ike/${name}`, import.meta.url), "utf8");
const annotatedHex = (t: string): Uint8Array => hx(t.split("\n").map((l) => l.replace(/#.*/, "")).join(""));
const seed = seedFromEnv(0x1fe2);
const rng = new Prng(seed);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? `not an IpsecError: ${String(e)}`;
  }
  return undefined;
}

const SPI_I = hx("a1b2c3d4e5f60718");
const SPI_R = hx("1122334455667788");

/** Every payload type an RFC 4891 deployment meets, with fields as the decoder returns them. */
const ALL_PAYLOADS: I.IkePayloadInput[] = [
  {
    type: I.PT_SA,
    fields: {
      proposals: [
        { number: 1, protocolId: 3, protocol: "ESP", spi: "c0ffee01", transforms: [
          { type: 1, typeName: "ENCR", id: 20, name: "ENCR_AES_GCM_16", attributes: [{ type: 14, name: "Key Length", tv: true, value: 256 }], keyLength: 256 },
          { type: 5, typeName: "ESN", id: 1, name: "ESN", attributes: [] },
        ] },
        { number: 2, protocolId: 3, protocol: "ESP", spi: "c0ffee01", transforms: [
          { type: 1, typeName: "ENCR", id: 12, name: "ENCR_AES_CBC", attributes: [{ type: 14, name: "Key Length", tv: true, value: 128 }, { type: 99, name: "attribute-99", tv: false, value: "0102" }], keyLength: 128 },
          { type: 3, typeName: "INTEG", id: 12, name: "AUTH_HMAC_SHA2_256_128", attributes: [] },
          { type: 5, typeName: "ESN", id: 0, name: "NO_ESN", attributes: [] },
        ] },
      ],
    },
  },
  { type: I.PT_KE, fields: { group: 31, groupName: "CURVE25519", keyData: "11".repeat(32) } },
  { type: I.PT_NONCE, fields: { nonce: "22".repeat(32) } },
  { type: I.PT_IDI, fields: { idType: 1, idTypeName: "ID_IPV4_ADDR", value: "192.0.2.1", data: "c0000201" } },
  { type: I.PT_IDR, fields: { idType: 5, idTypeName: "ID_IPV6_ADDR", value: "2001:db8::1", data: "20010db8000000000000000000000001" } },
  { type: I.PT_IDI, fields: { idType: 2, idTypeName: "ID_FQDN", value: "tep1.example", data: toHex(Buffer.from("tep1.example")) } },
  { type: I.PT_IDI, fields: { idType: 3, idTypeName: "ID_RFC822_ADDR", value: "a@example.org", data: toHex(Buffer.from("a@example.org")) } },
  { type: I.PT_IDI, fields: { idType: 11, idTypeName: "ID_KEY_ID", value: "00ff10", data: "00ff10" } },
  { type: I.PT_IDI, fields: { idType: 9, idTypeName: "ID_DER_ASN1_DN", value: "3000", data: "3000" } },
  { type: I.PT_CERT, fields: { encoding: 4, encodingName: "X.509 Certificate - Signature", data: "308201" } },
  { type: I.PT_CERTREQ, fields: { encoding: 4, encodingName: "X.509 Certificate - Signature", data: "ab".repeat(20) } },
  { type: I.PT_AUTH, fields: { method: 2, methodName: "Shared Key Message Integrity Code", data: "33".repeat(32) } },
  { type: I.PT_NOTIFY, fields: { protocolId: 0, spiSize: 0, notifyType: 16391, notifyName: "USE_TRANSPORT_MODE", kind: "status", spi: "", data: "" } },
  { type: I.PT_NOTIFY, fields: { protocolId: 3, spiSize: 4, notifyType: 16393, notifyName: "REKEY_SA", kind: "status", spi: "c0ffee01", data: "" } },
  { type: I.PT_NOTIFY, fields: { protocolId: 0, spiSize: 0, notifyType: 17, notifyName: "INVALID_KE_PAYLOAD", kind: "error", spi: "", data: "0013" } },
  { type: I.PT_DELETE, fields: { protocolId: 3, protocol: "ESP", spiSize: 4, numSpis: 2, spis: ["c0ffee01", "c0ffee02"] } },
  { type: I.PT_DELETE, fields: { protocolId: 1, protocol: "IKE", spiSize: 0, numSpis: 0, spis: [] } },
  { type: I.PT_VENDOR, fields: { vendorId: "882fe56d6fd20dbc2251613b2ebe5beb" } },
  { type: I.PT_TSI, fields: { count: 2, selectors: [
    { tsType: 7, tsTypeName: "TS_IPV4_ADDR_RANGE", ipProtocol: 41, startPort: 0, endPort: 65535, startAddress: "192.0.2.1", endAddress: "192.0.2.1" },
    { tsType: 8, tsTypeName: "TS_IPV6_ADDR_RANGE", ipProtocol: 0, startPort: 0, endPort: 65535, startAddress: "2001:db8:1::", endAddress: "2001:db8:1:ffff:ffff:ffff:ffff:ffff" },
  ] } },
  { type: I.PT_TSR, fields: { count: 1, selectors: [{ tsType: 10, tsTypeName: "TS_SECLABEL", ipProtocol: 0, data: "0000" }] } },
  { type: I.PT_CP, fields: { cfgType: 2, cfgTypeName: "CFG_REPLY", attributes: [
    { type: 1, name: "INTERNAL_IP4_ADDRESS", value: "c6336401", text: "198.51.100.1" },
    { type: 8, name: "INTERNAL_IP6_ADDRESS", value: "20010db8000000000000000000000005" + "40", text: "2001:db8::5/64" },
    { type: 14, name: "SUPPORTED_ATTRIBUTES", value: "" },
  ] } },
  { type: I.PT_EAP, fields: { message: "0101000501", code: 1, identifier: 1 } },
  { type: 49, fields: { data: "abcd" } }, // GSPM: not implemented → "unknown-49", not critical
];

function msgWith(payloads: I.IkePayloadInput[], initiator = true): I.IkeMessageInput {
  return { header: { spiI: SPI_I, spiR: SPI_R, exchangeType: I.IKE_AUTH, flags: { initiator }, messageId: 1 }, payloads };
}

describe("byte helpers", () => {
  it("toHex is Node's lower-case hex for every length to 300 (table and TextDecoder paths), every byte value", async () => {
    const { toHex } = await import("../src/ike/bytes.js");
    const rng = new Prng(0x4e8);
    expect(toHex(Uint8Array.from({ length: 256 }, (_, i) => i))).toBe(Buffer.from(Uint8Array.from({ length: 256 }, (_, i) => i)).toString("hex"));
    for (let n = 0; n <= 300; n++) {
      const b = rng.bytes(n + 3).subarray(3);
      expect(toHex(b), `n=${n}`).toBe(Buffer.from(b).toString("hex"));
    }
    expect(toHex(new Uint8Array(5000).fill(0xab))).toBe("ab".repeat(5000));
  });
});

describe("IKE header (§3.1)", () => {
  const h = annotatedHex(fixture("ike_sa_init_request.txt"));
  it("deconstructs", () => {
    expect(I.decodeIkeHeader(h)).toEqual({
      spiI: SPI_I, spiR: new Uint8Array(8), nextPayload: 33, majorVersion: 2, minorVersion: 0, exchangeType: 34,
      flags: { initiator: true, version: false, response: false }, messageId: 0, length: 284,
    });
  });
  it("one byte short of 28 fails, IKEv1 is named, Length < 28 fails", () => {
    expect(codeOf(() => I.decodeIkeHeader(h.subarray(0, 27)))).toBe("ERR_IKE_TRUNCATED");
    const v1 = h.slice(0, 28);
    v1[17] = 0x10;
    expect(codeOf(() => I.decodeIkeHeader(v1))).toBe("ERR_IKE_VERSION");
    const e = (() => { try { I.decodeIkeHeader(v1); } catch (x) { return x as I.IkeError; } })()!;
    expect(e.notifyType).toBe(I.N_INVALID_MAJOR_VERSION);
    const short = h.slice(0, 28);
    short[27] = 27;
    short[26] = 0;
    expect(codeOf(() => I.decodeIkeHeader(short))).toBe("ERR_IKE_MALFORMED");
  });
  it("message Length vs buffer: shorter buffer → ERR_IKE_TRUNCATED, longer → ERR_IKE_TRAILING", () => {
    expect(codeOf(() => I.decodeIkeMessage(h.subarray(0, h.length - 1)))).toBe("ERR_IKE_TRUNCATED");
    expect(codeOf(() => I.decodeIkeMessage(Uint8Array.from([...h, 0])))).toBe("ERR_IKE_TRAILING");
  });
});

describe("an IKE_SA_INIT request built by hand from RFC 7296 §3 (test/fixtures/ike)", () => {
  const bytes = annotatedHex(fixture("ike_sa_init_request.txt"));
  it("decodes every field", () => {
    expect(bytes.length).toBe(284);
    const m = I.decodeIkeMessage(bytes);
    expect(m.icv).toBeUndefined();
    expect(m.payloads.map((p) => p.name)).toEqual(["SA", "KE", "Ni", "N", "N", "N", "N", "V"]);
    expect(m.payloads.map((p) => [p.offset, p.length])).toEqual([[28, 48], [76, 72], [148, 36], [184, 28], [212, 28], [240, 8], [248, 16], [264, 20]]);
    expect(m.payloads[0].fields).toEqual({
      proposals: [{ number: 1, protocolId: 1, protocol: "IKE", spi: "", transforms: [
        { type: 1, typeName: "ENCR", id: 20, name: "ENCR_AES_GCM_16", attributes: [{ type: 14, name: "Key Length", tv: true, value: 128 }], keyLength: 128 },
        { type: 2, typeName: "PRF", id: 5, name: "PRF_HMAC_SHA2_256", attributes: [] },
        { type: 4, typeName: "KE", id: 19, name: "ECP_256", attributes: [] },
        { type: 4, typeName: "KE", id: 31, name: "CURVE25519", attributes: [] },
      ] }],
    });
    expect(m.payloads[1].fields).toEqual({
      group: 19, groupName: "ECP_256",
      keyData: "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c37725811805271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
    });
    expect(m.payloads.slice(3, 7).map((p) => p.fields.notifyName)).toEqual([
      "NAT_DETECTION_SOURCE_IP", "NAT_DETECTION_DESTINATION_IP", "IKEV2_FRAGMENTATION_SUPPORTED", "SIGNATURE_HASH_ALGORITHMS",
    ]);
    expect(m.payloads[6].fields.data).toBe("0002000300040005");
    expect(m.payloads[7].fields).toEqual({ vendorId: "882fe56d6fd20dbc2251613b2ebe5beb" });
    expect(JSON.parse(JSON.stringify(m.payloads.map((p) => p.fields)))).toEqual(m.payloads.map((p) => p.fields));
  });
  it("re-encodes from its fields to the same bytes", () => {
    const m = I.decodeIkeMessage(bytes);
    const again = I.encodeIkeMessage({ header: m.header, payloads: m.payloads });
    expect(toHex(again)).toBe(toHex(bytes));
  });
  it("the same bytes as Wireshark reads them (tshark, if installed)", (ctx) => {
    const skip = ensureDebian("/usr/bin/tshark", ["tshark"]);
    if (skip) return ctx.skip(skip);
    const r = tsharkFields([udp500(bytes)], ["isakmp.typepayload", "isakmp.notify.msgtype"]);
    // Wireshark lists proposal (2) and transform (3) substructures as payloads too: leave them out
    expect(r[0]["isakmp.typepayload"].filter((t) => t !== "2" && t !== "3")).toEqual(["33", "34", "40", "41", "41", "41", "41", "43"]);
    expect(r[0]["isakmp.notify.msgtype"]).toEqual(["16388", "16389", "16430", "16431"]);
  });
});

describe("encode → decode round trips, every payload type", () => {
  for (const p of ALL_PAYLOADS) {
    it(`${I.payloadName(p.type)} ${JSON.stringify(p.fields).slice(0, 60)}`, () => {
      const bytes = I.encodeIkeMessage(msgWith([p, { type: I.PT_NONCE, fields: { nonce: "00".repeat(16) } }]));
      const m = I.decodeIkeMessage(bytes);
      expect(m.payloads[0].fields).toEqual(p.fields);
      expect(m.payloads[0].name).toBe(p.type === 49 ? "unknown-49" : I.payloadName(p.type));
      expect(toHex(I.encodeIkeMessage({ header: m.header, payloads: m.payloads }))).toBe(toHex(bytes));
    });
  }
  it("Nonce is Ni from the initiator and Nr from the responder", () => {
    const ni = I.decodeIkeMessage(I.encodeIkeMessage(msgWith([{ type: 40, fields: { nonce: "00" } }], true)));
    const nr = I.decodeIkeMessage(I.encodeIkeMessage(msgWith([{ type: 40, fields: { nonce: "00" } }], false)));
    expect([ni.payloads[0].name, nr.payloads[0].name]).toEqual(["Ni", "Nr"]);
  });
  it("SKF: fragment header decoded (RFC 7383), numbering checked", () => {
    const f = { fragmentNumber: 2, totalFragments: 3, encrypted: "00".repeat(40) };
    const m = I.decodeIkeMessage(I.encodeIkeMessage(msgWith([{ type: I.PT_SKF, fields: f }])));
    expect(m.payloads[0].fields).toEqual({ ...f, firstInnerPayload: 0 });
    expect(m.icv).toBe("no-key");
    for (const bad of [{ ...f, fragmentNumber: 0 }, { ...f, fragmentNumber: 4 }, { ...f, totalFragments: 0 }]) {
      expect(codeOf(() => I.decodeIkeMessage(I.encodeIkeMessage(msgWith([{ type: I.PT_SKF, fields: bad }]))))).toBe("ERR_IKE_MALFORMED");
    }
  });
});

describe("strict bounds and the critical bit", () => {
  const base = I.encodeIkeMessage(msgWith(ALL_PAYLOADS));
  it("unknown type with the critical bit → ERR_IKE_CRITICAL carrying UNSUPPORTED_CRITICAL_PAYLOAD and the type", () => {
    const b = I.encodeIkeMessage(msgWith([{ type: 49, critical: true, fields: { data: "ab" } }]));
    let err: I.IkeError | undefined;
    try { I.decodeIkeMessage(b); } catch (e) { err = e as I.IkeError; }
    expect(err).toBeInstanceOf(IpsecError);
    expect(err!.code).toBe("ERR_IKE_CRITICAL");
    expect(err!.notifyType).toBe(I.N_UNSUPPORTED_CRITICAL_PAYLOAD);
    expect(Array.from(err!.notifyData!)).toEqual([49]);
  });
  it("only errors inside a verified SK are marked authenticated (the endpoint acts on no others)", () => {
    const k = keysFor(SUITES[0]);
    const caught = (b: Uint8Array): I.IkeError => {
      try { I.decodeIkeMessage(b, k); } catch (e) { return e as I.IkeError; }
      throw new Error("no error");
    };
    // inside SK, ICV verified: an unknown critical payload
    const inside = caught(I.encodeIkeMessage(msgWith([{ type: I.PT_SK, inner: [{ type: 49, critical: true, fields: { data: "ab" } }] }]), k));
    expect([inside.code, inside.notifyType, inside.authenticated]).toEqual(["ERR_IKE_CRITICAL", I.N_UNSUPPORTED_CRITICAL_PAYLOAD, true]);
    // before SK, in clear: the same payload, then a valid SK — nobody vouches for it
    const outside = caught(I.encodeIkeMessage(msgWith([{ type: 49, critical: true, fields: { data: "ab" } }, { type: I.PT_SK, inner: AUTH_INNER }]), k));
    expect([outside.code, outside.notifyType, outside.authenticated]).toEqual(["ERR_IKE_CRITICAL", I.N_UNSUPPORTED_CRITICAL_PAYLOAD, undefined]);
    // bytes after the message: found before the ICV is checked
    const sealed = I.encodeIkeMessage(authMsg(true), k);
    const trailing = caught(Uint8Array.from([...sealed, 0]));
    expect([trailing.code, trailing.authenticated]).toEqual(["ERR_IKE_TRAILING", undefined]);
  });
  it("a known type with the critical bit is accepted (§3.2: ignored when understood)", () => {
    const m = I.decodeIkeMessage(I.encodeIkeMessage(msgWith([{ type: I.PT_NONCE, critical: true, fields: { nonce: "00" } }])));
    expect(m.payloads[0].critical).toBe(true);
  });
  it("Payload Length < 4, past the end, bytes after the last payload", () => {
    const b = base.slice();
    b[30] = 0; b[31] = 3; // first payload length 3
    expect(codeOf(() => I.decodeIkeMessage(b))).toBe("ERR_IKE_MALFORMED");
    b[30] = 0xff; b[31] = 0xff;
    expect(codeOf(() => I.decodeIkeMessage(b))).toBe("ERR_IKE_TRUNCATED");
    const one = I.encodeIkeMessage(msgWith([{ type: I.PT_NONCE, fields: { nonce: "0000" } }]));
    const extra = Uint8Array.from([...one, 1, 2, 3, 4]);
    extra[27] += 4;
    expect(codeOf(() => I.decodeIkeMessage(extra))).toBe("ERR_IKE_TRAILING");
  });
  it("SA: Last Substruc and transform counts must agree with the bytes", () => {
    const sa = I.encodeIkeMessage(msgWith([ALL_PAYLOADS[0]]));
    const m = sa.slice();
    m[32] = 0; // first proposal claims to be last
    expect(codeOf(() => I.decodeIkeMessage(m))).toBe("ERR_IKE_MALFORMED");
    const n = sa.slice();
    n[39] = 5; // transform count
    expect(codeOf(() => I.decodeIkeMessage(n))).toBe("ERR_IKE_MALFORMED");
  });
  it("every truncation of a valid message is refused with a named code", () => {
    for (let n = 0; n < base.length; n++) {
      const t = base.slice(0, n);
      if (n >= 28) { t[24] = 0; t[25] = 0; t[26] = n >> 8; t[27] = n & 0xff; }
      const c = codeOf(() => I.decodeIkeMessage(t));
      expect(c, `length ${n}`).toMatch(/^ERR_IKE_(TRUNCATED|MALFORMED|TRAILING)$/);
    }
  });
});

// ---- SK ----

interface Suite { name: string; encr: number; keyLen: number; integ?: number }
const SUITES: Suite[] = [
  ...[128, 192, 256].flatMap((k) => [I.ENCR_AES_GCM_16, I.ENCR_AES_GCM_12, I.ENCR_AES_GCM_8].map((e) => ({ name: `aes${k}gcm${e === 20 ? 16 : e === 19 ? 12 : 8}`, encr: e, keyLen: k }))),
  { name: "chacha20poly1305", encr: I.ENCR_CHACHA20_POLY1305, keyLen: 256 },
  { name: "aes128-sha256", encr: I.ENCR_AES_CBC, keyLen: 128, integ: I.AUTH_HMAC_SHA2_256_128 },
  { name: "aes192-sha384", encr: I.ENCR_AES_CBC, keyLen: 192, integ: I.AUTH_HMAC_SHA2_384_192 },
  { name: "aes256-sha512", encr: I.ENCR_AES_CBC, keyLen: 256, integ: I.AUTH_HMAC_SHA2_512_256 },
];

function keysFor(s: Suite): I.IkeSaKeys {
  const e = I.encrSpec(s.encr, s.keyLen);
  const k: I.IkeSaKeys = { spiI: SPI_I, spiR: SPI_R, encr: s.encr, keyLen: s.keyLen, skEi: new Uint8Array(randomBytes(e.keymatLen)), skEr: new Uint8Array(randomBytes(e.keymatLen)) };
  if (s.integ) {
    const a = I.integSpec(s.integ).keyLen;
    Object.assign(k, { integ: s.integ, skAi: new Uint8Array(randomBytes(a)), skAr: new Uint8Array(randomBytes(a)) });
  }
  return k;
}

const AUTH_INNER: I.IkePayloadInput[] = [ALL_PAYLOADS[3], ALL_PAYLOADS[11], ALL_PAYLOADS[12], ALL_PAYLOADS[0], ALL_PAYLOADS[18], ALL_PAYLOADS[18]];
const authMsg = (initiator: boolean): I.IkeMessageInput => msgWith([{ type: I.PT_SK, inner: AUTH_INNER }], initiator);

/** Independent opening of an SK payload with node:crypto, written from RFC 7296 §3.14 / RFC 5282 §5.1 / RFC 7634 §3. */
function independentOpen(s: Suite, k: I.IkeSaKeys, msg: Uint8Array, initiator: boolean): Buffer {
  const skAt = 28; // SK is the only payload
  const body = Buffer.from(msg.subarray(skAt + 4));
  const ek = Buffer.from(initiator ? k.skEi : k.skEr);
  if (s.encr === I.ENCR_AES_CBC) {
    const icvLen = { 12: 16, 13: 24, 14: 32 }[s.integ!]!;
    const hash = { 12: "sha256", 13: "sha384", 14: "sha512" }[s.integ!]!;
    const mac = createHmac(hash, initiator ? k.skAi! : k.skAr!).update(msg.subarray(0, msg.length - icvLen)).digest().subarray(0, icvLen);
    expect(mac.toString("hex")).toBe(Buffer.from(msg.subarray(msg.length - icvLen)).toString("hex"));
    const d = createDecipheriv(`aes-${s.keyLen}-cbc`, ek, body.subarray(0, 16));
    d.setAutoPadding(false);
    return Buffer.concat([d.update(body.subarray(16, body.length - icvLen)), d.final()]);
  }
  const tagLen = s.encr === I.ENCR_AES_GCM_8 ? 8 : s.encr === I.ENCR_AES_GCM_12 ? 12 : 16;
  const key = ek.subarray(0, ek.length - 4);
  const nonce = Buffer.concat([ek.subarray(ek.length - 4), body.subarray(0, 8)]);
  const alg = s.encr === I.ENCR_CHACHA20_POLY1305 ? "chacha20-poly1305" : `aes-${s.keyLen}-gcm`;
  const d = createDecipheriv(alg as "aes-128-gcm", key, nonce, { authTagLength: tagLen });
  d.setAAD(msg.subarray(0, skAt + 4)); // IKE header ‖ SK generic header, not the IV
  d.setAuthTag(body.subarray(body.length - tagLen));
  return Buffer.concat([d.update(body.subarray(8, body.length - tagLen)), d.final()]);
}

describe("SK payload (§3.14): every suite, both directions, against node:crypto used directly", () => {
  for (const s of SUITES) {
    it(s.name, () => {
      const k = keysFor(s);
      for (const initiator of [true, false]) {
        const bytes = I.encodeIkeMessage(authMsg(initiator), k);
        const m = I.decodeIkeMessage(bytes, k);
        expect(m.icv).toBe("ok");
        expect(m.decrypted!.map((p) => p.fields)).toEqual(AUTH_INNER.map((p) => p.fields));
        // independent: ICV/tag, decryption, then our inner chain + Pad Length
        const pt = independentOpen(s, k, bytes, initiator);
        const pad = pt[pt.length - 1];
        const plain = I.encodeIkeMessage(msgWith(AUTH_INNER));
        expect(pt.subarray(0, pt.length - 1 - pad).toString("hex")).toBe(toHex(plain.subarray(28)));
        if (s.encr === I.ENCR_AES_CBC) expect((pt.length % 16)).toBe(0);
        else expect(pad).toBe(0);
        // without keys: encrypted, no-key; wrong direction's key: bad
        expect(I.decodeIkeMessage(bytes).icv).toBe("no-key");
        const swapped = { ...k, skEi: k.skEr, skEr: k.skEi, skAi: k.skAr, skAr: k.skAi };
        expect(I.decodeIkeMessage(bytes, swapped).icv).toBe("bad");
        // any flipped bit of header, SK header, IV, data or ICV → bad (or a named error)
        for (let i = 0; i < 24; i++) {
          const t = bytes.slice();
          const at = i < 12 ? rng.int(0, bytes.length - 1) : [0, 16, 19, 20, 28, 31, 32, bytes.length - 1, bytes.length - 5, 40, 50, 60][i - 12];
          t[at] ^= 1 << rng.int(0, 7);
          let r: string;
          try { r = I.decodeIkeMessage(t, k).icv ?? "none"; } catch (e) { r = (e as IpsecError).code; }
          expect(r, `bit at ${at}`).not.toBe("ok");
        }
      }
    });
  }
  it("a decrypted message decrypted from a hand-sealed one (node:crypto encrypts, we open): AES-GCM-16-128", () => {
    const s = SUITES[0];
    const k = keysFor(s);
    const inner = I.encodeIkeMessage(msgWith(AUTH_INNER)).subarray(28);
    const pt = Buffer.concat([inner, Buffer.from([7, 7, 7, 3])]); // 3 bytes padding, any value
    const iv = randomBytes(8);
    const len = 28 + 4 + 8 + pt.length + 16;
    const hdr = Buffer.from(I.encodeIkeMessage(msgWith([])).subarray(0, 28));
    hdr[16] = 46;
    hdr.writeUInt32BE(len, 24);
    const skh = Buffer.from([35, 0, (len - 28) >> 8, (len - 28) & 0xff]);
    const c = createCipheriv("aes-128-gcm", Buffer.from(k.skEi.subarray(0, 16)), Buffer.concat([Buffer.from(k.skEi.subarray(16)), iv]));
    c.setAAD(Buffer.concat([hdr, skh]));
    const msg = Buffer.concat([hdr, skh, iv, c.update(pt), c.final(), c.getAuthTag()]);
    const m = I.decodeIkeMessage(new Uint8Array(msg), k);
    expect(m.icv).toBe("ok");
    expect(m.payloads[0].fields.padLength).toBe(3);
    expect(m.decrypted!.map((p) => p.fields)).toEqual(AUTH_INNER.map((p) => p.fields));
  });
  it("padding: CBC needs whole blocks; a Pad Length longer than the data is ERR_IKE_PADDING", () => {
    const s = SUITES[SUITES.length - 3];
    const k = keysFor(s);
    expect(codeOf(() => I.encodeIkeMessage(authMsg(true), k, { padLength: 3 }))).toBe("ERR_INPUT_TYPE");
    // hand-sealed: one block whose last byte says 200
    const hdr = Buffer.from(I.encodeIkeMessage(msgWith([])).subarray(0, 28));
    const len = 28 + 4 + 16 + 16 + 16;
    hdr[16] = 46;
    hdr.writeUInt32BE(len, 24);
    const skh = Buffer.from([0, 0, 0, len - 28]);
    const iv = randomBytes(16);
    const c = createCipheriv("aes-128-cbc", Buffer.from(k.skEi), iv);
    c.setAutoPadding(false);
    const ct = Buffer.concat([c.update(Buffer.from([...Array(15).fill(0), 200])), c.final()]);
    const mac = createHmac("sha256", k.skAi!).update(Buffer.concat([hdr, skh, iv, ct])).digest().subarray(0, 16);
    const msg = new Uint8Array(Buffer.concat([hdr, skh, iv, ct, mac]));
    expect(codeOf(() => I.decodeIkeMessage(msg, k))).toBe("ERR_IKE_PADDING");
  });
  it("the async path (WebCrypto HMAC/AES-CBC + wasm AES-GCM/ChaCha20-Poly1305) gives the same bytes and opens them", async () => {
    const web = I.webIkeCrypto();
    for (const s of [SUITES[0], SUITES[8], SUITES[9], SUITES[10], SUITES[12]]) {
      const k = keysFor(s);
      const iv = new Uint8Array(randomBytes(I.encrSpec(s.encr, s.keyLen).ivLen));
      const a = I.encodeIkeMessage(authMsg(false), k, { iv });
      const b = await I.encodeIkeMessageAsync(authMsg(false), k, { iv }, web);
      expect(toHex(b), s.name).toBe(toHex(a));
      const decoy = { ...keysFor(SUITES[1]), spiR: Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9) };
      const m = await I.decodeIkeMessageAsync(a, [decoy, k], web);
      expect(m.icv, s.name).toBe("ok");
      expect(m.decrypted!.map((p) => p.fields)).toEqual(AUTH_INNER.map((p) => p.fields));
      const t = a.slice();
      t[t.length - 1] ^= 0x80;
      expect((await I.decodeIkeMessageAsync(t, k, web)).icv).toBe("bad");
    }
  });
});

describe("fuzz: only IpsecError with a named code, never TypeError/RangeError", () => {
  const valid: Array<{ bytes: Uint8Array; keys?: I.IkeSaKeys }> = [
    { bytes: annotatedHex(fixture("ike_sa_init_request.txt")) },
    { bytes: I.encodeIkeMessage(msgWith(ALL_PAYLOADS)) },
    ...SUITES.filter((_, i) => i % 3 === 0 || i > 8).map((s) => {
      const keys = keysFor(s);
      return { bytes: I.encodeIkeMessage(authMsg(true), keys), keys };
    }),
  ];
  const check = (b: Uint8Array, keys?: I.IkeSaKeys): void => {
    try {
      I.decodeIkeMessage(b, keys);
    } catch (e) {
      if (!(e instanceof IpsecError) || !/^ERR_[A-Z_]+$/.test(e.code)) {
        throw new Error(`seed ${seed}: ${String(e)} for ${toHex(b)}`);
      }
    }
  };
  it(`30000 random buffers (seed ${seed})`, () => {
    for (let i = 0; i < 30000; i++) {
      const n = rng.int(0, 120);
      const b = rng.bytes(n);
      if (n >= 28 && i % 2) { b[17] = 0x20; b[24] = 0; b[25] = 0; b[26] = n >> 8; b[27] = n & 0xff; b[16] = rng.pick([33, 34, 35, 40, 41, 44, 46, 47, 53, 49]); }
      check(b, i % 3 === 0 ? valid[2].keys : undefined);
    }
  });
  it(`40000 mutations of valid messages (seed ${seed})`, () => {
    for (let i = 0; i < 40000; i++) {
      const v = valid[i % valid.length];
      const b = v.bytes.slice();
      const flips = rng.int(1, 4);
      for (let j = 0; j < flips; j++) {
        const at = rng.int(0, b.length - 1);
        if (rng.int(0, 1)) b[at] = rng.int(0, 255);
        else b[at] ^= 1 << rng.int(0, 7);
      }
      check(b, v.keys);
      // also cut or extend, and fix the header Length sometimes
      const cut = b.subarray(0, rng.int(0, b.length));
      check(cut, v.keys);
      if (cut.length >= 28 && rng.int(0, 1)) {
        const c = cut.slice();
        c[26] = c.length >> 8; c[27] = c.length & 0xff; c[24] = 0; c[25] = 0;
        check(c, v.keys);
      }
    }
  });
});

describe("Wireshark ikev2_decryption_table", () => {
  it("parses the sample file (strongSwan save-keys layout)", () => {
    const ks = I.parseIkev2DecryptionTable(fixture("ikev2_decryption_table"));
    expect(ks).toHaveLength(2);
    expect(ks[0]).toEqual({ spiI: SPI_I, spiR: SPI_R, encr: 20, keyLen: 128, skEi: hx("000102030405060708090a0b0c0d0e0f10111213"), skEr: hx("101112131415161718191a1b1c1d1e1f20212223") });
    expect(ks[1].encr).toBe(12);
    expect(ks[1].keyLen).toBe(256);
    expect(ks[1].integ).toBe(12);
    expect(ks[1].skAi!.length).toBe(32);
    expect(I.formatIkev2DecryptionTable(ks)).toBe(fixture("ikev2_decryption_table").split("\n").slice(1).join("\n"));
  });
  it("accepts every supported name, quoted hex, 0x, CRLF and comments", () => {
    const lines = SUITES.map((s) => I.formatIkev2DecryptionTable([keysFor(s)]).trimEnd());
    lines.push(`"0x${toHex(SPI_I)}", ${toHex(SPI_R)} ,${"ab".repeat(20)},${"cd".repeat(20)},"AES-GCM-128 with 8 octet ICV [RFC5282]",,,"NONE [RFC4306]"`);
    const ks = I.parseIkev2DecryptionTable(["# comment", "", ...lines].join("\r\n"));
    expect(ks.map((k) => [k.encr, k.keyLen, k.integ])).toEqual([...SUITES.map((s) => [s.encr, s.keyLen, s.integ]), [18, 128, undefined]]);
  });
  it("refuses bad lines with their line numbers", () => {
    const good = fixture("ikev2_decryption_table").split("\n")[1];
    const bad = [
      "# header",
      good,
      good.replace("a1b2c3d4e5f60718", "a1b2c3"), // line 3: short SPI
      good.replace("AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-CCM-128 with 16 octet ICV [RFC5282]"), // 4: unsupported
      good.replace(",,,", ",00,00,").replace('"NONE [RFC4306]"', '"HMAC_SHA2_256_128 [RFC4868]"'), // 5: AEAD + integ
      good.replace("10111213,", "101112,"), // 6: SK_ei short of the salt
      "a1b2c3d4e5f60718,1122334455667788", // 7: field count
      good.replace("000102", "zz0102"), // 8: not hex
      good.replace('"NONE [RFC4306]"', '"NONE'), // 9: unterminated quote
    ];
    let err: IpsecError | undefined;
    try { I.parseIkev2DecryptionTable(bad.join("\n")); } catch (e) { err = e as IpsecError; }
    expect(err?.code).toBe("ERR_IKE_KEYFILE");
    for (const n of [3, 4, 5, 6, 7, 8, 9]) expect(err!.message).toContain(`line ${n}:`);
    expect(err!.message).not.toContain("line 2:");
    expect(err!.message).toContain("not supported by ipsec6in4");
    expect(err!.message).toContain("requires the NONE integrity algorithm");
  });
  it("keys parsed from the table decrypt a message sealed with them", () => {
    const k = I.parseIkev2DecryptionTable(fixture("ikev2_decryption_table"))[1];
    const b = I.encodeIkeMessage({ ...authMsg(true), header: { ...authMsg(true).header, spiI: k.spiI, spiR: k.spiR } }, k);
    expect(I.decodeIkeMessage(b, I.parseIkev2DecryptionTable(fixture("ikev2_decryption_table"))).icv).toBe("ok");
  });
});

// ---- tshark: Wireshark decrypts what we seal ----

function udp500(ike: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + ike.length);
  u[0] = 0x01; u[1] = 0xf4; u[2] = 0x01; u[3] = 0xf4;
  u[4] = u.length >> 8; u[5] = u.length & 0xff; // checksum 0: none (IPv4)
  u.set(ike, 8);
  return ipv4Wrap("192.0.2.1", "192.0.2.2", 17, u);
}

function tsharkFields(pkts: Uint8Array[], fields: string[], uat?: string): Array<Record<string, string[]>> {
  const dir = mkdtempSync(join(tmpdir(), "ike-tshark-"));
  try {
    if (uat !== undefined) writeFileSync(join(dir, "ikev2_decryption_table"), uat);
    writeFileSync(join(dir, "c.pcap"), writePcap(pkts, LINKTYPE_RAW));
    const r = spawnSync("tshark", ["-r", join(dir, "c.pcap"), "-n", "-T", "fields", "-E", "separator=/t", "-E", "aggregator=|", "-E", "occurrence=a", ...fields.flatMap((f) => ["-e", f])], {
      env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, encoding: "utf8", timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trimEnd().split("\n").map((line) => {
      const cols = line.split("\t");
      return Object.fromEntries(fields.map((f, i) => [f, (cols[i] ?? "").split("|").filter((x) => x !== "")]));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("tshark (Wireshark 4.0 packet-isakmp.c) decrypts our SK payloads with keys from our table writer", () => {
  let skip: string | undefined;
  beforeAll(() => { skip = ensureDebian("/usr/bin/tshark", ["tshark"]); });
  it("AES-GCM 8/12/16 × 128/192/256 and AES-CBC + HMAC-SHA2: inner payloads seen, ICV correct; tampered: incorrect", (ctx) => {
    if (skip) return ctx.skip(skip);
    const suites = SUITES.filter((s) => s.encr !== I.ENCR_CHACHA20_POLY1305); // Wireshark 4.0 has no IKEv2 ChaCha20
    const keys = suites.map((s, i) => ({ ...keysFor(s), spiI: Uint8Array.of(0xa0, 0, 0, 0, 0, 0, 0, i + 1) }));
    const pkts: Uint8Array[] = [];
    keys.forEach((k, i) => {
      pkts.push(udp500(I.encodeIkeMessage({ ...authMsg(i % 2 === 0), header: { ...authMsg(i % 2 === 0).header, spiI: k.spiI } }, k)));
    });
    const tampered = pkts[0].slice();
    tampered[tampered.length - 20] ^= 1;
    pkts.push(tampered);
    const dir = mkdtempSync(join(tmpdir(), "ike-tshark-"));
    try {
      writeFileSync(join(dir, "ikev2_decryption_table"), I.formatIkev2DecryptionTable(keys));
      writeFileSync(join(dir, "c.pcap"), writePcap(pkts, LINKTYPE_RAW));
      const r = spawnSync("tshark", ["-r", join(dir, "c.pcap"), "-n", "-V"], { env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const frames = r.stdout.split(/\nFrame \d+:/).slice(0);
      if (process.env.IKE_DEBUG) writeFileSync("/tmp/tshark-ike.txt", r.stdout);
      expect(frames.length).toBe(pkts.length);
      frames.forEach((f, i) => {
        const what = i < keys.length ? suites[i].name : "tampered";
        if (i < keys.length) {
          expect(f, what).toMatch(/Integrity Checksum Data: [0-9a-f]+ \(\d+ bytes\)[^\n]*\[correct\]/);
          expect(f, what).toContain("Payload: Identification - Initiator (35)");
          expect(f, what).toContain("ID_IPV4_ADDR: 192.0.2.1");
          expect(f, what).toContain("Payload: Traffic Selector - Initiator (44)");
          expect(f, what).toContain("Starting Addr: 2001:db8:1::");
        } else {
          expect(f, what).toMatch(/\[incorrect, should be [0-9a-f]+\]/);
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
