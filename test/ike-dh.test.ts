// IKEv2 Diffie-Hellman (RFC 7296 §2.7): both sides agree in every group; KE data has the
// lengths RFC 3526/5903/8031 give; invalid public values are refused with ERR_IKE_KE.
import { describe, expect, it } from "vitest";
import { createDh, KE_LENGTH } from "../src/ike/dh.js";

const code = (c: string) => expect.objectContaining({ code: c });

describe("IKE Diffie-Hellman", () => {
  it.each([14, 15, 16, 17, 18, 19, 20, 21, 31, 32])("group %i: both sides derive the same g^ir", (g) => {
    const a = createDh(g);
    const b = createDh(g);
    expect(a.publicValue.length).toBe(KE_LENGTH[g]);
    const s1 = a.computeSecret(b.publicValue);
    const s2 = b.computeSecret(a.publicValue);
    expect(Buffer.compare(s1, s2)).toBe(0);
    expect(s1.length).toBe({ 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024, 19: 32, 20: 48, 21: 66, 31: 32, 32: 56 }[g]);
  });

  it("refuses wrong lengths, points off the curve, trivial MODP values and small-order X25519 points", () => {
    expect(() => createDh(19).computeSecret(new Uint8Array(63))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(19).computeSecret(new Uint8Array(64).fill(1))).toThrow(code("ERR_IKE_KE"));
    const one = new Uint8Array(256);
    one[255] = 1;
    expect(() => createDh(14).computeSecret(one)).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(14).computeSecret(new Uint8Array(256).fill(0xff))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(31).computeSecret(new Uint8Array(32))).toThrow(code("ERR_IKE_KE")); // the zero point
    expect(() => createDh(32).computeSecret(new Uint8Array(56))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(32).computeSecret(new Uint8Array(32))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(21).computeSecret(new Uint8Array(132).fill(1))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(15).computeSecret(new Uint8Array(384).fill(0xff))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(15).computeSecret(new Uint8Array(256))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(5)).toThrow(code("ERR_IKE_KE"));
  });
});
