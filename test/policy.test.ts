// From the RFC 4891 fixtures (swanctl.conf with our `tunnels` section) to the SPD tables
// RFC 4891 prints, the PAD of §5.2, and tunnels with their SPD decision.
import { describe, expect, it } from "vitest";
import { loadConfigFile } from "../src/config/index.js";
import { policyFromConfig } from "../src/policy.js";
import { parseIdentity } from "../src/pad.js";
import { parseIp } from "../src/addr.js";

const fixture = (name: string) => new URL(`./fixtures/config/${name}`, import.meta.url).pathname;

describe("SPDs of RFC 4891 from their configuration fixtures", () => {
  it.each([
    [
      "rfc4891-5.1-router1.conf",
      // §5.1 Router1's SPD with IPV4-TEP1 = 192.0.2.1, IPV4-TEP2 = 192.0.2.2.
      [
        "1     192.0.2.1  192.0.2.2  ESP       BYPASS",
        "2     192.0.2.1  192.0.2.2  IKE       BYPASS",
        "3     192.0.2.1  192.0.2.2  41        PROTECT(ESP,transport)",
      ],
    ],
    [
      "rfc4891-5.1-router2.conf",
      [
        "1     192.0.2.2  192.0.2.1  ESP       BYPASS",
        "2     192.0.2.2  192.0.2.1  IKE       BYPASS",
        "3     192.0.2.2  192.0.2.1  41        PROTECT(ESP,transport)",
      ],
    ],
    [
      "rfc4891-a2-host1.conf",
      // A.2 Host1's SPD with IPV6-EP1 = 2001:db8:1::1, IPV6-EP2 = 2001:db8:2::1; rule 3 carries
      // every next-layer protocol of the inner IPv6 packets (the RFC's "41" is the tunnel itself).
      [
        "1     2001:db8:1::1  2001:db8:2::1  ESP       BYPASS",
        "2     2001:db8:1::1  2001:db8:2::1  IKE       BYPASS",
        "3     2001:db8:1::1  2001:db8:2::1  ANY       PROTECT(ESP,tunnel{192.0.2.1,192.0.2.2})",
      ],
    ],
    [
      "rfc4891-a2-host2.conf",
      [
        "1     2001:db8:2::1  2001:db8:1::1  ESP       BYPASS",
        "2     2001:db8:2::1  2001:db8:1::1  IKE       BYPASS",
        "3     2001:db8:2::1  2001:db8:1::1  ANY       PROTECT(ESP,tunnel{192.0.2.2,192.0.2.1})",
      ],
    ],
    [
      "rfc4891-a3-router.conf",
      // A.3 Router's SPD: rule 3 is ANY → IPV6-EP1 (checked below: columns differ in width).
      [],
    ],
  ])("%s", (file, rows) => {
    const { spd } = policyFromConfig(loadConfigFile(fixture(file)));
    const table = spd.toTable().split("\n");
    expect(table[0]).toMatch(/^Rule\s+Local\s+Remote\s+Protocol\s+Action$/);
    if (file === "rfc4891-a3-router.conf") {
      expect(table.slice(1).map((r) => r.replace(/\s+/g, " "))).toEqual([
        "1 ANY 2001:db8:1::1 ESP BYPASS",
        "2 ANY 2001:db8:1::1 IKE BYPASS",
        "3 ANY 2001:db8:1::1 ANY PROTECT(ESP,tunnel{192.0.2.2,192.0.2.1})",
      ]);
    } else {
      expect(table.slice(1).map((r) => r.replace(/\s+/g, " "))).toEqual(rows.map((r) => r.replace(/\s+/g, " ")));
    }
  });

  it("tunnels get the SPD's decision and the PAD knows the peer (RFC 4891 §5.2)", () => {
    const { tunnels, pad, spd } = policyFromConfig(loadConfigFile(fixture("rfc4891-5.1-router1.conf")));
    expect(tunnels).toHaveLength(1);
    expect(tunnels[0].policy).toBe("protect");
    expect(tunnels[0].config).toMatchObject({ local: "192.0.2.1", remote: "192.0.2.2", routes: ["2001:db8:2::/48"], mtu: 1280 });
    const peer = pad.lookup(parseIdentity("192.0.2.2"), parseIp("192.0.2.2")!);
    expect(peer?.auth).toBe("psk");
    expect(peer?.secret?.length).toBe(16);
    expect(pad.lookup(parseIdentity("192.0.2.9"))).toBeUndefined();
    // Child SA authorization data holds the peer's IPv4 address.
    expect(peer && pad.authorizeChild(peer, [{ family: 4, start: 0xc0000202n, end: 0xc0000202n }])).toBe(true);
    expect(peer && pad.authorizeChild(peer, [{ family: 4, start: 0xc0000203n, end: 0xc0000203n }])).toBe(false);
    expect(spd.entries.map((e) => e.action)).toEqual(["bypass", "bypass", "protect"]);
  });

  it("the JSON twins give the same SPD", () => {
    for (const f of ["rfc4891-5.1-router1", "rfc4891-a2-host1", "rfc4891-a3-host", "rfc4891-a3-router"]) {
      const a = policyFromConfig(loadConfigFile(fixture(`${f}.conf`))).spd.toTable();
      const b = policyFromConfig(loadConfigFile(fixture(`${f}.json`))).spd.toTable();
      expect(b).toBe(a);
    }
  });
});
