// IP address text forms: RFC 4291 §2.2 parsing, RFC 5952 canonical output, prefixes.
import { describe, expect, it } from "vitest";
import { formatIPv6, parseIPv4, parseIPv6, parsePrefix, prefixRange, formatIp } from "../src/addr.js";
import { Prng } from "./helpers/prng.js";

describe("addresses", () => {
  it.each([
    ["2001:db8::1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:DB8::1", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // RFC 5952 §4.2.3: first of equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // §4.2.2: a single 0 group stays
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"], // RFC 5952 §5: dotted quad for IPv4-mapped
    ["::ffff:c000:201", "::ffff:192.0.2.1"],
    ["fe80::1:2:3:4", "fe80::1:2:3:4"],
  ])("%s → %s", (input, canonical) => {
    expect(formatIPv6(parseIPv6(input)!)).toBe(canonical);
  });

  it.each(["", ":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::", "1:2:3:4:5:6:7", "::1%eth0", "1.2.3.4", "::256.0.0.1"])(
    "refuses IPv6 %j",
    (s) => expect(parseIPv6(s)).toBeUndefined(),
  );

  it.each(["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", " 1.2.3.4", "a.b.c.d"])("refuses IPv4 %j", (s) =>
    expect(parseIPv4(s)).toBeUndefined(),
  );

  it("round-trips random IPv6 addresses through text", () => {
    const rng = new Prng(5952);
    for (let i = 0; i < 5000; i++) {
      const b = rng.bytes(16);
      // Make zero runs common.
      for (let g = 0; g < 8; g++) if (rng.u32() % 3 === 0) b[2 * g] = b[2 * g + 1] = 0;
      const text = formatIPv6(b);
      expect(Buffer.compare(parseIPv6(text)!, b), text).toBe(0);
      expect(text).toBe(text.toLowerCase());
      expect(text).not.toMatch(/(^|:)0[0-9a-f]/);
    }
  });

  it("prefixes: host bits must be zero; ranges cover the prefix", () => {
    expect(parsePrefix("2001:db8:1::/48")).toBeDefined();
    expect(parsePrefix("2001:db8:1::1/48")).toBeUndefined();
    expect(parsePrefix("192.0.2.0/24")).toBeDefined();
    expect(parsePrefix("192.0.2.1/24")).toBeUndefined();
    expect(parsePrefix("192.0.2.1/33")).toBeUndefined();
    expect(parsePrefix("::/0")).toBeDefined();
    const r = prefixRange(parsePrefix("192.0.2.0/24")!);
    expect([r.start, r.end]).toEqual([0xc0000200n, 0xc00002ffn]);
    expect(formatIp(parsePrefix("192.0.2.7")!)).toBe("192.0.2.7");
  });
});
