// IKEv2 key derivation (RFC 7296 §2.13, §2.14, §2.17, §2.18): known answers and structure.
import { createECDH, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  deriveChildSaKeys, deriveIkeSaKeys, prf, prfPlus, rekeySkeyseed, skeyseed, toIkeSaKeys,
  ENCR_AES_CBC, ENCR_AES_GCM_16, ENCR_CHACHA20_POLY1305, AUTH_HMAC_SHA2_256_128,
  PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512, IkeError,
} from "../src/ike/index.js";

const hx = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));

describe("prf: RFC 4868 §2.7.1 PRF test vectors (= RFC 4231 cases 1, 2)", () => {
  const cases = [
    {
      key: hx("0b".repeat(20)),
      data: ascii("Hi There"),
      [PRF_HMAC_SHA2_256]: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      [PRF_HMAC_SHA2_384]: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
      [PRF_HMAC_SHA2_512]: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    },
    {
      key: ascii("Jefe"),
      data: ascii("what do ya want for nothing?"),
      [PRF_HMAC_SHA2_256]: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      [PRF_HMAC_SHA2_384]: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
      [PRF_HMAC_SHA2_512]: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    },
  ];
  for (const [i, c] of cases.entries()) {
    for (const id of [PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512] as const) {
      it(`case ${i + 1}, PRF ${id}`, () => expect(toHex(prf(id, c.key, c.data))).toBe(c[id]));
    }
  }
  it("refuses a PRF it does not implement (AES128_XCBC) with ERR_IKE_ALGORITHM", () => {
    expect(() => prf(4, new Uint8Array(16), new Uint8Array(1))).toThrow(expect.objectContaining({ code: "ERR_IKE_ALGORITHM" }));
  });
});

describe("IKEv2 KDF known answers: libreswan's KDF CAVS driver (NSS), SP 800-135 IKEv2 layout, PRF_HMAC_SHA1", () => {
  // Source: libreswan/libreswan, the comment of its `libreswan-ikev2-cavs` test program
  // (Stephan Mueller, Andrew Cagney, 2015): `-g … -n … -a … -b … -c … -d … -l 132 -h 2`.
  const gir = hx("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52");
  const girNew = hx("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330");
  const ni = hx("32b50d5f4a3763f3");
  const nr = hx("9206a04b26564cb1");
  const spiI = hx("34c9e7c188868785");
  const spiR = hx("3ff77d760d2b2199");
  const SKEYSEED = "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7";
  const DKM =
    "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd11198af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435a7a56cc4";
  const DKM_CHILD =
    "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e664994d234cb4";
  const DKM_CHILD_DH =
    "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054d56fd74c";
  const SKEYSEED_REKEY = "63e81194946ebd05df7df5ebf5d8750056bf1f1d";

  it("SKEYSEED = prf(Ni | Nr, g^ir)", () => expect(toHex(skeyseed(PRF_HMAC_SHA1, ni, nr, gir))).toBe(SKEYSEED));
  it("DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), 132 bytes", () => {
    expect(toHex(prfPlus(PRF_HMAC_SHA1, hx(SKEYSEED), Uint8Array.from([...ni, ...nr, ...spiI, ...spiR]), 132))).toBe(DKM);
  });
  it("SK_d = the first 20 bytes of DKM, through deriveIkeSaKeys", () => {
    const k = deriveIkeSaKeys({ prf: PRF_HMAC_SHA1, encr: ENCR_AES_CBC, keyLen: 128, integ: AUTH_HMAC_SHA2_256_128 }, { ni, nr, spiI, spiR, gir });
    expect(toHex(k.skeyseed)).toBe(SKEYSEED);
    const all = toHex(Uint8Array.from([...k.skD, ...k.skAi, ...k.skAr, ...k.skEi, ...k.skEr, ...k.skPi, ...k.skPr]));
    expect(all.slice(0, DKM.length)).toBe(DKM); // 20 + 2·32 + 2·16 + 2·20 = 156 > 132: compare the common prefix
    expect(all.length / 2).toBe(156);
  });
  it("DKM(Child SA) = prf+(SK_d, Ni | Nr) and DKM(Child SA D-H) = prf+(SK_d, g^ir(new) | Ni | Nr)", () => {
    const skD = hx(DKM).subarray(0, 20);
    expect(toHex(prfPlus(PRF_HMAC_SHA1, skD, Uint8Array.from([...ni, ...nr]), 132))).toBe(DKM_CHILD);
    expect(toHex(prfPlus(PRF_HMAC_SHA1, skD, Uint8Array.from([...girNew, ...ni, ...nr]), 132))).toBe(DKM_CHILD_DH);
    // the same through deriveChildSaKeys (AES-CBC-128 + HMAC-SHA2-256-128: 16 + 32 per direction)
    const c = deriveChildSaKeys(PRF_HMAC_SHA1, skD, { encr: ENCR_AES_CBC, keyLen: 128, integ: AUTH_HMAC_SHA2_256_128 }, { ni, nr, girNew });
    expect(toHex(Uint8Array.from([...c.encrI, ...c.integI, ...c.encrR, ...c.integR]))).toBe(DKM_CHILD_DH.slice(0, 192));
  });
  it("SKEYSEED(Rekey) = prf(SK_d (old), g^ir (new) | Ni | Nr)", () => {
    expect(toHex(rekeySkeyseed(PRF_HMAC_SHA1, hx(DKM).subarray(0, 20), girNew, ni, nr))).toBe(SKEYSEED_REKEY);
  });
});

describe("prf+ (§2.13) against a direct HMAC construction", () => {
  const ref = (hash: string, k: Uint8Array, s: Uint8Array, n: number): string => {
    let t = Buffer.alloc(0);
    let out = Buffer.alloc(0);
    for (let i = 1; out.length < n; i++) {
      t = createHmac(hash, k).update(Buffer.concat([t, s, Buffer.from([i])])).digest();
      out = Buffer.concat([out, t]);
    }
    return out.subarray(0, n).toString("hex");
  };
  const key = hx("000102030405060708090a0b0c0d0e0f");
  const seed = ascii("Ni | Nr | SPIi | SPIr");
  for (const [id, hash, hl] of [[PRF_HMAC_SHA2_256, "sha256", 32], [PRF_HMAC_SHA2_384, "sha384", 48], [PRF_HMAC_SHA2_512, "sha512", 64]] as const) {
    it(`${hash}: lengths 0, 1, hLen, hLen+1, 255·hLen; 255·hLen+1 refused`, () => {
      for (const n of [0, 1, hl, hl + 1, 3 * hl - 1, 255 * hl]) expect(toHex(prfPlus(id, key, seed, n)), `n=${n}`).toBe(ref(hash, key, seed, n));
      expect(() => prfPlus(id, key, seed, 255 * hl + 1)).toThrow(expect.objectContaining({ code: "ERR_IKE_ALGORITHM" }));
    });
  }
});

describe("IKE SA keys and CHILD_SA KEYMAT split (§2.14, §2.17)", () => {
  // g^ir from RFC 5903 §8.1 (ECP-256), recomputed here from the RFC's i and r.
  const i = hx("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433");
  const r = hx("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53");
  const GIR = "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de";
  const ni = hx("11".repeat(32));
  const nr = hx("22".repeat(32));
  const spiI = hx("a1b2c3d4e5f60718");
  const spiR = hx("1122334455667788");

  it("RFC 5903 §8.1: node:crypto ECDH gives the RFC's g^ir (x coordinate)", () => {
    const a = createECDH("prime256v1");
    a.setPrivateKey(i);
    const b = createECDH("prime256v1");
    b.setPrivateKey(r);
    expect(a.computeSecret(b.getPublicKey()).toString("hex")).toBe(GIR);
  });

  it("aes128gcm16-prfsha256: SK_d 32, SK_a 0, SK_e 20 (key ‖ salt), SK_p 32, in RFC order", () => {
    const gir = hx(GIR);
    const k = deriveIkeSaKeys({ prf: PRF_HMAC_SHA2_256, encr: ENCR_AES_GCM_16, keyLen: 128 }, { ni, nr, spiI, spiR, gir });
    const seed = createHmac("sha256", Buffer.concat([ni, nr])).update(gir).digest();
    expect(toHex(k.skeyseed)).toBe(seed.toString("hex"));
    const km = prfPlus(PRF_HMAC_SHA2_256, seed, Uint8Array.from([...ni, ...nr, ...spiI, ...spiR]), 32 + 40 + 64);
    expect([k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr].map((x) => x.length)).toEqual([32, 0, 0, 20, 20, 32, 32]);
    expect(toHex(Uint8Array.from([...k.skD, ...k.skEi, ...k.skEr, ...k.skPi, ...k.skPr]))).toBe(toHex(km));
    const sa = toIkeSaKeys({ prf: PRF_HMAC_SHA2_256, encr: ENCR_AES_GCM_16, keyLen: 128 }, spiI, spiR, k);
    expect(sa).toEqual({ spiI, spiR, encr: ENCR_AES_GCM_16, keyLen: 128, skEi: k.skEi, skEr: k.skEr });
  });

  it("aes256-sha256-prfsha384: SK_d 48, SK_a 32, SK_e 32, SK_p 48", () => {
    const k = deriveIkeSaKeys({ prf: PRF_HMAC_SHA2_384, encr: ENCR_AES_CBC, keyLen: 256, integ: AUTH_HMAC_SHA2_256_128 }, { ni, nr, spiI, spiR, gir: hx(GIR) });
    expect([k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr].map((x) => x.length)).toEqual([48, 32, 32, 32, 32, 48, 48]);
  });

  it("CHILD_SA KEYMAT: encr_i ‖ integ_i ‖ encr_r ‖ integ_r; AES-GCM 16+4 (RFC 4106 §8.1), ChaCha 32+4 (RFC 7634)", () => {
    const skD = hx("33".repeat(32));
    const seed = Uint8Array.from([...ni, ...nr]);
    const g = deriveChildSaKeys(PRF_HMAC_SHA2_256, skD, { encr: ENCR_AES_GCM_16, keyLen: 128 }, { ni, nr });
    const km = prfPlus(PRF_HMAC_SHA2_256, skD, seed, 40);
    expect(toHex(g.encrI)).toBe(toHex(km.subarray(0, 20)));
    expect(toHex(g.encrR)).toBe(toHex(km.subarray(20, 40)));
    expect(g.integI.length + g.integR.length).toBe(0);
    const c = deriveChildSaKeys(PRF_HMAC_SHA2_256, skD, { encr: ENCR_CHACHA20_POLY1305, keyLen: 256 }, { ni, nr });
    expect(toHex(Uint8Array.from([...c.encrI, ...c.encrR]))).toBe(toHex(prfPlus(PRF_HMAC_SHA2_256, skD, seed, 72)));
    const cbc = deriveChildSaKeys(PRF_HMAC_SHA2_256, skD, { encr: ENCR_AES_CBC, keyLen: 128, integ: AUTH_HMAC_SHA2_256_128 }, { ni, nr, girNew: hx(GIR) });
    const km2 = prfPlus(PRF_HMAC_SHA2_256, skD, Uint8Array.from([...hx(GIR), ...seed]), 96);
    expect(toHex(Uint8Array.from([...cbc.encrI, ...cbc.integI, ...cbc.encrR, ...cbc.integR]))).toBe(toHex(km2));
    expect([cbc.encrI.length, cbc.integI.length]).toEqual([16, 32]);
  });

  it("unsupported transforms are refused with named codes", () => {
    const e = (() => {
      try {
        deriveChildSaKeys(PRF_HMAC_SHA2_256, new Uint8Array(32), { encr: 3, keyLen: 192 }, { ni, nr });
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(IkeError);
    expect((e as IkeError).code).toBe("ERR_IKE_ALGORITHM");
  });
});
