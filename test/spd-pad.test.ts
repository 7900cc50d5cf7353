// RFC 4301 SPD (ordered, first match) and PAD (identity → auth → child authorization), with
// the SPD of RFC 4891 §5.1 as printed there.
import { describe, expect, it } from "vitest";
import { hostRange, parseIp, parsePrefix, prefixRange, toBig } from "../src/addr.js";
import { Pad, parseIdentity, ID_TYPE } from "../src/pad.js";
import { Spd, PROTO, type SpdEntry } from "../src/spd.js";

const TEP1 = parseIp("192.0.2.1")!;
const TEP2 = parseIp("192.0.2.2")!;
const code = (c: string) => expect.objectContaining({ code: c });

/** RFC 4891 §5.1, Router1's SPD. */
function router1(): Spd {
  const sel = { local: [hostRange(TEP1)], remote: [hostRange(TEP2)] };
  const ike = [{ start: 500, end: 500 }, { start: 4500, end: 4500 }];
  const entries: SpdEntry[] = [
    { name: "esp", selectors: { ...sel, protocol: PROTO.ESP }, action: "bypass" },
    { name: "ike", selectors: { ...sel, protocol: PROTO.UDP, remotePorts: ike }, action: "bypass" },
    { name: "tunnel", selectors: { ...sel, protocol: PROTO.IPV6_IN_IPV4 }, action: "protect", protect: { mode: "transport" } },
  ];
  return new Spd(entries);
}

describe("SPD", () => {
  const q = (protocol: number, remotePort?: number, remote = TEP2) => ({
    family: 4 as const,
    local: toBig(TEP1.bytes),
    remote: toBig(remote.bytes),
    protocol,
    remotePort,
  });

  it("prints RFC 4891 §5.1 Router1's SPD and decides as it says", () => {
    const spd = router1();
    expect(spd.toTable()).toBe(
      [
        "Rule  Local      Remote     Protocol  Action",
        "1     192.0.2.1  192.0.2.2  ESP       BYPASS",
        "2     192.0.2.1  192.0.2.2  IKE       BYPASS",
        "3     192.0.2.1  192.0.2.2  41        PROTECT(ESP,transport)",
      ].join("\n"),
    );
    expect(spd.lookup(q(PROTO.IPV6_IN_IPV4))?.name).toBe("tunnel");
    expect(spd.lookup(q(PROTO.ESP))?.name).toBe("esp");
    expect(spd.lookup(q(PROTO.UDP, 500))?.name).toBe("ike");
    expect(spd.lookup(q(PROTO.UDP, 4500))?.name).toBe("ike");
    expect(spd.lookup(q(PROTO.UDP, 53))).toBeUndefined();
    expect(spd.lookup(q(PROTO.IPV6_IN_IPV4, undefined, parseIp("198.51.100.9")!))).toBeUndefined();
  });

  it("entry order decides: a DISCARD in front shadows the PROTECT", () => {
    const spd = router1();
    spd.add({ name: "deny41", selectors: { local: [], remote: [], protocol: 41 }, action: "discard" }, 0);
    expect(spd.lookup(q(41))?.name).toBe("deny41");
    spd.remove("deny41");
    expect(spd.lookup(q(41))?.name).toBe("tunnel");
  });

  it("refuses malformed entries with ERR_CONFIG", () => {
    const spd = router1();
    const sel = { local: [], remote: [], protocol: -1 };
    expect(() => spd.add({ name: "esp", selectors: sel, action: "bypass" })).toThrow(code("ERR_CONFIG"));
    expect(() => spd.add({ name: "x", selectors: sel, action: "allow" as "bypass" })).toThrow(code("ERR_CONFIG"));
    expect(() => spd.add({ name: "y", selectors: sel, action: "protect" })).toThrow(code("ERR_CONFIG"));
    expect(() => spd.add({ name: "z", selectors: sel, action: "protect", protect: { mode: "tunnel" } })).toThrow(code("ERR_CONFIG"));
    expect(() => spd.add({ name: "w", selectors: sel, action: "bypass" }, 9)).toThrow(code("ERR_CONFIG"));
    expect(spd.entries.length).toBe(3);
  });

  it("tunnel mode with IPv6 prefixes (RFC 4891 A.3, router side)", () => {
    const ep1 = parsePrefix("2001:db8:1::/48")!;
    const spd = new Spd([
      {
        name: "site",
        selectors: { local: [], remote: [prefixRange(ep1)], protocol: PROTO.ANY },
        action: "protect",
        protect: { mode: "tunnel", tunnel: { local: TEP2.bytes, remote: TEP1.bytes } },
      },
    ]);
    const inside = toBig(parseIp("2001:db8:1::42")!.bytes);
    const outside = toBig(parseIp("2001:db8:2::42")!.bytes);
    expect(spd.lookup({ family: 6, local: 1n, remote: inside, protocol: 58 })?.name).toBe("site");
    expect(spd.lookup({ family: 6, local: 1n, remote: outside, protocol: 58 })).toBeUndefined();
    expect(spd.toTable()).toContain("PROTECT(ESP,tunnel{192.0.2.2,192.0.2.1})");
  });
});

describe("PAD", () => {
  const pad = new Pad([
    { name: "r2", id: parseIdentity("192.0.2.2"), auth: "psk", secret: new Uint8Array([1, 2, 3]), childRanges: [hostRange(TEP2)], gateways: [hostRange(TEP2)] },
    { name: "fqdn", id: parseIdentity("@Gw.Example.org"), auth: "pubkey", childRanges: [prefixRange(parsePrefix("2001:db8:9::/48")!)], gateways: [] },
  ]);

  it("identities parse as strongSwan writes them", () => {
    expect(parseIdentity("192.0.2.2").type).toBe(ID_TYPE.IPV4_ADDR);
    expect(parseIdentity("2001:db8::1").type).toBe(ID_TYPE.IPV6_ADDR);
    expect(parseIdentity("@vpn.example.org").type).toBe(ID_TYPE.FQDN);
    expect(parseIdentity("alice@example.org").type).toBe(ID_TYPE.RFC822_ADDR);
    expect(parseIdentity("C=CH, O=strongSwan, CN=moon").type).toBe(ID_TYPE.DER_ASN1_DN);
    expect(parseIdentity("@#0a0b").data).toEqual(new Uint8Array([10, 11]));
    expect(() => parseIdentity("not an id")).toThrow(code("ERR_CONFIG"));
  });

  it("finds a peer by identity and gateway, FQDNs case-insensitively", () => {
    expect(pad.lookup(parseIdentity("192.0.2.2"), TEP2)?.name).toBe("r2");
    expect(pad.lookup(parseIdentity("192.0.2.2"), parseIp("198.51.100.1")!)).toBeUndefined();
    expect(pad.lookup(parseIdentity("192.0.2.3"))).toBeUndefined();
    expect(pad.lookup(parseIdentity("@gw.example.ORG"))?.name).toBe("fqdn");
  });

  it("authorizes child SAs only inside the peer's ranges (RFC 4891 §5.2: the peer's IPv4 address)", () => {
    const r2 = pad.entries[0];
    expect(pad.authorizeChild(r2, [hostRange(TEP2)])).toBe(true);
    expect(pad.authorizeChild(r2, [hostRange(TEP1)])).toBe(false);
    const f = pad.entries[1];
    expect(pad.authorizeChild(f, [prefixRange(parsePrefix("2001:db8:9:1::/64")!)])).toBe(true);
    expect(pad.authorizeChild(f, [prefixRange(parsePrefix("2001:db8::/32")!)])).toBe(false);
  });

  it("refuses PSK entries without a secret, duplicates, and never prints secrets", () => {
    expect(() => pad.add({ name: "x", id: parseIdentity("192.0.2.9"), auth: "psk", childRanges: [], gateways: [] })).toThrow(code("ERR_CONFIG"));
    expect(() => pad.add({ ...pad.entries[0] })).toThrow(code("ERR_CONFIG"));
    expect(String((pad as unknown as { [k: symbol]: () => string })[Symbol.for("nodejs.util.inspect.custom")]())).not.toContain("1,2,3");
  });
});
