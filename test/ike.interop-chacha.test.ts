// ESP with ChaCha20-Poly1305 (RFC 7634) negotiated by IKEv2 (transform ID 28) against
// strongSwan's charon (kernel-libipsec does it through its openssl plugin): both sides
// initiate, the CHILD_SA keys (32-byte key ‖ 4-byte salt) equal charon's, and charon's
// ping6 crosses the tunnel and is answered. Layout as test/ike.interop.test.ts: our endpoint
// on the root end of a veth, charon in a namespace.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import { createDataplane } from "../src/pipeline.js";
import { policyFromConfig } from "../src/policy.js";
import { UdpNode } from "../src/node/udp.js";
import type { ChildSaInfo } from "../src/ike/endpoint.js";
import { ENCR_CHACHA20_POLY1305 } from "../src/ike/constants.js";
import { echoReply } from "../src/icmpv6-echo.js";
import { parseIPv6 } from "../src/addr.js";
import { Charon, ensureCharon, swanctlConf } from "./helpers/charon.js";
import { NetLab, netnsSkipReason } from "./helpers/netns.js";
import { inCI } from "./helpers/apt.js";

const PSK = "ipsec6in4 chacha20poly1305 interop";
const THEIR_NET = "2001:db8:1::/64";
const THEIR_HOST = "2001:db8:1::1";
const OUR_NET = "2001:db8:2::/64";
const OUR_HOST = "2001:db8:2::1";

describe("ESP ChaCha20-Poly1305 negotiated with strongSwan charon", () => {
  let skip: string | undefined;
  let lab: NetLab | undefined;
  let ch: Charon;
  let node: UdpNode | undefined;
  let ours = "";
  let theirs = "";
  const keys: { info: ChildSaInfo; encrI: string; encrR: string }[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    const why = netnsSkipReason();
    if (why && inCI) throw new Error(why);
    skip = why ?? ensureCharon();
    if (skip) return;
    lab = new NetLab();
    const ns = lab.ns("cc");
    ({ rootAddr: ours, nsAddr: theirs } = await lab.rootVeth(ns));
    ns.ip("addr", "add", `${THEIR_HOST}/128`, "dev", "lo");
    ch = await Charon.start({
      lab,
      ns,
      swanctlConf: swanctlConf({ psk: PSK, localAddr: theirs, remoteAddr: ours, localTs: THEIR_NET, remoteTs: OUR_NET, proposals: "chacha20poly1305-prfsha256-curve25519", espProposals: "chacha20poly1305" }),
      charonOptions: { retransmit_tries: 2, retransmit_timeout: "0.5" },
    });
    await ch.load();
    const config = loadConfig(
      `connections { c { local_addrs = ${ours}
  remote_addrs = ${theirs}
  proposals = chacha20poly1305-prfsha256-curve25519
  local { auth = psk
    id = ${ours} }
  remote { auth = psk
    id = ${theirs} }
  children { t { mode = tunnel
    local_ts = ${OUR_NET}
    remote_ts = ${THEIR_NET}
    esp_proposals = chacha20poly1305 } } } }
secrets { ike-c { secret = 0x${Buffer.from(PSK, "utf8").toString("hex")} } }
tunnels { charon { local = ${ours}
  remote = ${theirs}
  address = ${OUR_HOST}/64
  routes = ${THEIR_NET}
  allow = ${THEIR_NET} } }`,
      { file: "ours.conf" },
    );
    const dataplane = await createDataplane({ sas: 8, tunnels: 2 });
    for (const t of policyFromConfig(config).tunnels) dataplane.addTunnel(t.config, t.policy);
    const me = parseIPv6(OUR_HOST)!;
    const n: UdpNode = await UdpNode.bind({
      config,
      dataplane,
      address: ours,
      ike: {
        retransmit: { timeout: 500, base: 1.5, tries: 3 },
        log: (_l, m) => logs.push(m),
        onChildKeys: (info, k) => keys.push({ info: { ...info }, encrI: Buffer.from(k.encrI).toString("hex"), encrR: Buffer.from(k.encrR).toString("hex") }),
      },
      deliver: (p) => {
        const r = echoReply(p, (d) => d.every((b, i) => b === me[i]));
        if (r) n.send([r]);
      },
    });
    node = n;
  }, 600_000);

  afterAll(async () => {
    await node?.close();
    await ch?.stop();
    lab?.cleanup();
  });

  const diag = () => `--- our log ---\n${logs.slice(-20).join("\n")}\n${ch.logTail(30)}`;

  const expectKeysMatch = (c: ChildSaInfo) => {
    const mine = keys.find((k) => k.info.spiIn === c.spiIn && k.info.spiOut === c.spiOut);
    const spiIn = c.spiIn.toString(16).padStart(8, "0");
    const spiOut = c.spiOut.toString(16).padStart(8, "0");
    const theirsK = ch.childKeys().find((k) => k.spiIn === spiOut && k.spiOut === spiIn);
    expect(mine && theirsK, `keys for ${spiIn}/${spiOut}\n${diag()}`).toBeTruthy();
    expect(mine!.encrI).toMatch(/^[0-9a-f]{72}$/); // RFC 7634 §4: 32-byte key ‖ 4-byte salt
    expect({ encrI: mine!.encrI, encrR: mine!.encrR }).toEqual({ encrI: theirsK!.encrI, encrR: theirsK!.encrR });
  };

  it("we initiate: ENCR_CHACHA20_POLY1305 for IKE and ESP, keys equal, ping6 answered", { timeout: 30_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    const info = await node!.ike.initiate("c");
    expect(info.encr).toBe(ENCR_CHACHA20_POLY1305);
    expect(info.children[0].encr).toBe(ENCR_CHACHA20_POLY1305);
    await ch.waitForLog(/CHILD_SA t\{\d+\} established/);
    expectKeysMatch(info.children[0]);
    const r = await ch.ping6(THEIR_HOST, OUR_HOST, { count: 3 });
    expect(r.received, `${r.stdout}\n${diag()}`).toBe(3);
    await node!.ike.deleteIkeSa(info.id);
  });

  it("charon initiates: keys equal, ping6 answered", { timeout: 30_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.initiate("t");
    const [sa] = node!.ike.list();
    expect(sa?.children[0]?.encr, diag()).toBe(ENCR_CHACHA20_POLY1305);
    expectKeysMatch(sa.children[0]);
    const r = await ch.ping6(THEIR_HOST, OUR_HOST, { count: 3 });
    expect(r.received, `${r.stdout}\n${diag()}`).toBe(3);
  });
});
