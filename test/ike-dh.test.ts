// IKEv2 Diffie-Hellman (RFC 7296 §2.7): both sides agree in every group; KE data has the
// lengths RFC 3526/5903/8031 give; invalid public values are refused with ERR_IKE_KE.
import { describe, expect, it } from "vitest";
import { createDh, KE_LENGTH } from "../src/ike/dh.js";

const code = (c: string) => expect.objectContaining({ code: c });

describe("IKE Diffie-Hellman", () => {
  it.each([14, 19, 20, 31])("group %i: both sides derive the same g^ir", (g) => {
    const a = createDh(g);
    const b = createDh(g);
    expect(a.publicValue.length).toBe(KE_LENGTH[g]);
    const s1 = a.computeSecret(b.publicValue);
    const s2 = b.computeSecret(a.publicValue);
    expect(Buffer.compare(s1, s2)).toBe(0);
    expect(s1.length).toBe({ 14: 256, 19: 32, 20: 48, 31: 32 }[g]);
  });

  it("refuses wrong lengths, points off the curve, trivial MODP values and small-order X25519 points", () => {
    expect(() => createDh(19).computeSecret(new Uint8Array(63))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(19).computeSecret(new Uint8Array(64).fill(1))).toThrow(code("ERR_IKE_KE"));
    const one = new Uint8Array(256);
    one[255] = 1;
    expect(() => createDh(14).computeSecret(one)).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(14).computeSecret(new Uint8Array(256).fill(0xff))).toThrow(code("ERR_IKE_KE"));
    expect(() => createDh(31).computeSecret(new Uint8Array(32))).toThrow(code("ERR_IKE_KE")); // the zero point
    expect(() => createDh(5)).toThrow(code("ERR_IKE_KE"));
  });
});
