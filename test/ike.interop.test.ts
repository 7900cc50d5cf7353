// IKEv2 interop with strongSwan's charon (5.9.8, kernel-libipsec) in a network namespace.
//
// Our endpoint (UdpNode: IKE on ROOT:500/4500, ESP-in-UDP through the wasm dataplane) runs in
// this vitest process on the root end of a veth; charon runs in a namespace on the other end
// (see the comment block of test/helpers/charon.ts). Shown here:
//   - ours initiates and charon initiates; PSK with IPv4-address identities; several IKE
//     proposals (ecp256, curve25519 and modp2048, with INVALID_KE_PAYLOAD retries both ways);
//   - IKE_SA and CHILD_SA established on both sides, IKE floated to 4500 (charon claims NAT);
//   - the CHILD_SA keys we derive equal the ones charon prints in its level-4 log;
//   - tunnel mode with IPv6 selectors: charon's ping6 from 2001:db8:1::1 reaches the ICMPv6 echo
//     responder behind our UdpNode at 2001:db8:2::1 and every reply gets back;
//   - a 3 s CHILD_SA rekey_time on charon forces rekeys while pings keep flowing, and our side
//     rekeys too (IkeEndpoint.rekeyChild) — no ping lost;
//   - delete from either side is honoured (IKE_SA and CHILD_SA alone): no SAs left on the other;
//   - charon's DPD (empty INFORMATIONAL) is answered; ours is answered by charon;
//   - a second CHILD_SA on the same tunnel, deleted by charon, hands sending back to the first
//     (the bug this file found: the tunnel was left without an outbound SA).
//   - IKE_SA rekeys: charon's (`swanctl --rekey --ike`, we answer) and ours (rekeyIkeSa), ping6
//     flowing across both; CHILD_SA rekeys on the new IKE_SAs give keys equal to charon's, which
//     checks the new SK_d (SKEYSEED = prf(SK_d old, g^ir new | Ni | Nr));
//   - the larger DH groups (modp3072, modp4096, modp8192, ecp384, ecp521, curve448): charon
//     initiates in each, then we do (INVALID_KE_PAYLOAD from ecp256): keys agree, ping6 answered;
//   - PFS: our UdpNode bound again with esp_proposals = aes128gcm16-curve25519-ecp256; charon's
//     CHILD_SA rekeys carry an ecp256 KE payload that we take, ours offer curve25519 first and
//     retry with ecp256 after charon's INVALID_KE_PAYLOAD; keys equal charon's (so g^ir is in
//     KEYMAT), charon lists the CHILD_SA with ECP_256; a second CHILD_SA of ours (createChild)
//     is installed by charon with equal keys; against charon without PFS our rekey is
//     refused with NO_PROPOSAL_CHOSEN and the old CHILD_SA carries on;
//   - certificates: our UdpNode is bound again with a pubkey connection (ECDSA P-256 certificate
//     for us, RSA for charon, one CA, IPv4-address identities in subjectAltName; charon gets
//     x509/, x509ca/, rsa/ files in its swanctl dir and the x509 pem pkcs1 pkcs8 pubkey
//     constraints plugins). Both initiate; RFC 7427 signatures both ways (charon logs
//     ECDSA_WITH_SHA256_DER / RSA_EMSA_PKCS1_SHA2_256); a charon certificate from a CA we do
//     not trust ends with AUTHENTICATION_FAILED and no SAs on either side.
// Whole file ≈ 30 s. IKE_INTEROP_DUMP=path/prefix writes both logs at the end.
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCerts } from "./fixtures/ike/certs.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import type { Config } from "../src/config/model.js";
import { createDataplane } from "../src/pipeline.js";
import { policyFromConfig } from "../src/policy.js";
import { UdpNode } from "../src/node/udp.js";
import type { ChildSaInfo, IkeEvent } from "../src/ike/endpoint.js";
import { echoReply } from "../src/icmpv6-echo.js";
import { parseIPv6 } from "../src/addr.js";
import { CHARON_PLUGINS, Charon, ensureCharon, swanctlConf } from "./helpers/charon.js";
import { NetLab, netnsSkipReason, waitFor } from "./helpers/netns.js";
import { inCI } from "./helpers/apt.js";

const hex8 = (n: number) => n.toString(16).padStart(8, "0");
const PSK = "ipsec6in4 interop with charon";
const THEIR_NET = "2001:db8:1::/64";
const THEIR_HOST = "2001:db8:1::1";
const OUR_NET = "2001:db8:2::/64";
const OUR_HOST = "2001:db8:2::1";
/** DH groups beyond OUR_PROPOSALS: strongSwan keyword, IANA number, charon's name. */
const MORE_GROUPS: [string, number, string][] = [
  ["modp3072", 15, "MODP_3072"],
  ["modp4096", 16, "MODP_4096"],
  ["modp8192", 18, "MODP_8192"],
  ["ecp384", 20, "ECP_384"],
  ["ecp521", 21, "ECP_521"],
  ["curve448", 32, "CURVE_448"],
];
const OUR_PROPOSALS = "aes128gcm16-prfsha256-ecp256, aes128gcm16-prfsha256-curve25519, aes128gcm16-prfsha256-modp2048";

function prerequisites(): string | undefined {
  const why = netnsSkipReason();
  if (why) {
    if (inCI) throw new Error(why);
    return why;
  }
  return ensureCharon();
}

function ourConfig(me: string, peer: string, espProposals = "aes128gcm16", proposals = OUR_PROPOSALS): Config {
  return loadConfig(
    `
connections {
  c {
    local_addrs = ${me}
    remote_addrs = ${peer}
    proposals = ${proposals}
    encap = no
    local { auth = psk
      id = ${me} }
    remote { auth = psk
      id = ${peer} }
    children {
      t {
        mode = tunnel
        local_ts = ${OUR_NET}
        remote_ts = ${THEIR_NET}
        esp_proposals = ${espProposals}
      }
    }
  }
}
secrets { ike-c { id-1 = ${me}
  id-2 = ${peer}
  secret = 0x${Buffer.from(PSK, "utf8").toString("hex")} } }
tunnels { charon { local = ${me}
  remote = ${peer}
  address = ${OUR_HOST}/64
  routes = ${THEIR_NET}
  allow = ${THEIR_NET} } }
`,
    { file: "ours.conf" },
  );
}

interface KeyRecord {
  info: ChildSaInfo;
  encrI: string;
  encrR: string;
}

describe("IKEv2 interop: our endpoint (root namespace) ⇄ strongSwan charon (namespace)", () => {
  let skip: string | undefined;
  let lab: NetLab | undefined;
  let ch: Charon;
  let node: UdpNode | undefined;
  let ours = "";
  let theirs = "";
  const keys: KeyRecord[] = [];
  const events: IkeEvent[] = [];
  const logs: string[] = [];
  let echoed = 0;

  /** charon's swanctl.conf with the given IKE proposals and extra options. */
  const charonConf = (proposals: string, ike: Record<string, string | number> = {}, childOpts: Record<string, string | number> = {}) =>
    swanctlConf({ psk: PSK, localAddr: theirs, remoteAddr: ours, localTs: THEIR_NET, remoteTs: OUR_NET, proposals, ike, childOpts });

  beforeAll(async () => {
    skip = prerequisites();
    if (skip) return;
    lab = new NetLab();
    const ns = lab.ns("ike");
    ({ rootAddr: ours, nsAddr: theirs } = await lab.rootVeth(ns));
    ns.ip("addr", "add", `${THEIR_HOST}/128`, "dev", "lo");
    ch = await Charon.start({ lab, ns, swanctlConf: charonConf("aes128gcm16-prfsha256-ecp256"), charonOptions: { retransmit_tries: 2, retransmit_timeout: "0.5", load: `${CHARON_PLUGINS} x509 pem pkcs1 pkcs8 pubkey constraints` } });
    await ch.load();
    await bind(ourConfig(ours, theirs));
  }, 600_000);

  /** (Re)bind our UdpNode with `config`: an echo responder at OUR_HOST, keys and events recorded. */
  const bind = async (config: Config, credentials?: { swanctlDir: string }) => {
    const dataplane = await createDataplane({ sas: 16, tunnels: 2 });
    for (const t of policyFromConfig(config).tunnels) dataplane.addTunnel(t.config, t.policy);
    const me = parseIPv6(OUR_HOST)!;
    const n: UdpNode = await UdpNode.bind({
      config,
      dataplane,
      address: ours,
      ike: {
        ...(credentials ? { credentials } : {}),
        retransmit: { timeout: 500, base: 1.5, tries: 3 },
        log: (_l, m) => logs.push(m),
        onEvent: (e) => events.push(e),
        onChildKeys: (info, k) => keys.push({ info: { ...info }, encrI: Buffer.from(k.encrI).toString("hex"), encrR: Buffer.from(k.encrR).toString("hex") }),
      },
      deliver: (p) => {
        const r = echoReply(p, (d) => d.every((b, i) => b === me[i]));
        if (r && n.send([r])[0] === "send") echoed++;
      },
    });
    node = n;
  };

  afterAll(async () => {
    if (process.env.IKE_INTEROP_DUMP && ch) {
      writeFileSync(process.env.IKE_INTEROP_DUMP + ".charon.log", ch.log());
      writeFileSync(process.env.IKE_INTEROP_DUMP + ".ours.log", logs.join("\n"));
    }
    await node?.close();
    await ch?.stop();
    lab?.cleanup();
  });

  /** What went on, for failure messages. */
  const diag = () => `--- our log ---\n${logs.slice(-25).join("\n")}\n${ch.logTail(30)}`;

  /** Our CHILD_SA keys equal charon's for the SA with these SPIs (ours: spiIn/spiOut). */
  const expectKeysMatch = (c: ChildSaInfo) => {
    const mine = keys.find((k) => k.info.spiIn === c.spiIn && k.info.spiOut === c.spiOut);
    expect(mine, `our keys for ${c.spiIn.toString(16)}`).toBeDefined();
    const spiIn = c.spiIn.toString(16).padStart(8, "0");
    const spiOut = c.spiOut.toString(16).padStart(8, "0");
    const theirsK = ch.childKeys().find((k) => k.spiIn === spiOut && k.spiOut === spiIn);
    expect(theirsK, `charon's keys for ${spiOut}_i ${spiIn}_o\n${diag()}`).toBeDefined();
    expect(mine!.encrI).toMatch(/^[0-9a-f]{40}$/); // AES-128 key ‖ 4-byte salt
    expect({ encrI: mine!.encrI, encrR: mine!.encrR }).toEqual({ encrI: theirsK!.encrI, encrR: theirsK!.encrR });
  };

  /** No SAs on either side (waits for the side that was told). */
  const expectAllGone = async () => {
    await waitFor(async () => node!.ike.list().length === 0 && (await ch.listSas()).length === 0, 5_000, () => `all SAs gone: ours ${JSON.stringify(node!.ike.list())}\n${diag()}`);
    expect(node!.dp.esp.size).toBe(0);
  };

  const ping = async (count: number) => {
    const before = echoed;
    const r = await ch.ping6(THEIR_HOST, OUR_HOST, { count });
    expect(r.received, `ping6 through the tunnel:\n${r.stdout}${r.stderr}\n${diag()}`).toBe(count);
    expect(echoed - before).toBeGreaterThanOrEqual(count);
    return r;
  };

  /** Our single CHILD_SA once it is no longer `old` (charon rekeyed it and deleted the old one). */
  const rekeyedByCharon = (old: ChildSaInfo) =>
    waitFor(
      () => {
        const cs = node!.ike.list()[0]?.children ?? [];
        return cs.length === 1 && cs[0].spiIn !== old.spiIn ? cs[0] : undefined;
      },
      6_000,
      () => `charon to rekey CHILD_SA ${old.spiIn.toString(16)}: ${JSON.stringify(node!.ike.list())}\n${diag()}`,
    );
  /** charon's installed CHILD_SAs equal ours (SPIs swapped). */
  const sameOnBothSides = () =>
    waitFor(
      async () => {
        const theirsC = ((await ch.listSas())[0]?.children ?? []).filter((c) => c.state === "INSTALLED").map((c) => `${c.spiOut}/${c.spiIn}`);
        const oursC = (node!.ike.list()[0]?.children ?? []).map((c) => [c.spiIn, c.spiOut].map((x) => x.toString(16).padStart(8, "0")).join("/"));
        return theirsC.length === 1 && JSON.stringify(theirsC) === JSON.stringify(oursC);
      },
      2_000,
      () => `the same single CHILD_SA on both sides: ours ${JSON.stringify(node!.ike.list()[0]?.children)}\n${diag()}`,
    );

  it("ours initiates (we offer ecp256, curve25519, modp2048; charon takes curve25519 after INVALID_KE_PAYLOAD): keys agree, ping6 answered, our delete honoured", { timeout: 30_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf("aes128gcm16-prfsha256-curve25519"));
    const t0 = Date.now();
    const info = await node!.ike.initiate("c");
    const tUp = Date.now() - t0;
    expect(info).toMatchObject({ state: "established", initiator: true, natt: true, group: 31 });
    expect(info.local.port).toBe(4500);
    expect(info.remote).toEqual({ address: theirs, port: 4500 });
    expect(logs.join("\n")).toMatch(/peer wants DH group 31/);
    await ch.waitForLog(/CHILD_SA t\{\d+\} established/);
    const [sa] = await ch.listSas();
    expect(sa).toMatchObject({ name: "c", state: "ESTABLISHED", initiator: false, dhGroup: "CURVE_25519", prfAlg: "PRF_HMAC_SHA2_256", encrAlg: "AES_GCM_16", localId: theirs, remoteId: ours });
    expect([sa.initiatorSpi, sa.responderSpi]).toEqual([info.spiI, info.spiR]);
    expect(sa.children).toHaveLength(1);
    const c = info.children[0];
    expect(sa.children[0]).toMatchObject({ mode: "TUNNEL", encap: true, localTs: [THEIR_NET], remoteTs: [OUR_NET] });
    expect([sa.children[0].spiIn, sa.children[0].spiOut]).toEqual([c.spiOut, c.spiIn].map((s) => s.toString(16).padStart(8, "0")));
    expectKeysMatch(c);

    await ping(3);
    const [after] = await ch.listSas();
    expect(after.children[0].packetsIn).toBeGreaterThanOrEqual(3);

    const mark = ch.mark();
    await node!.ike.deleteIkeSa(info.id);
    await ch.waitForLog(/received DELETE for IKE_SA c\[\d+\]/, { from: mark, timeoutMs: 5_000 });
    await expectAllGone();
    console.log(`ours → charon: IKE_SA + CHILD_SA up in ${tUp} ms (with an INVALID_KE_PAYLOAD round)`);
  });

  it("charon initiates (IKE: modp2048 first, ecp256 second — we ask for ecp256 with INVALID_KE_PAYLOAD; ESP: aes256gcm16 first — we take its proposal 2): keys agree, ping6 answered, we rekey as IKE responder, charon's CHILD and IKE deletes honoured", { timeout: 30_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf("aes128gcm16-prfsha256-modp2048, aes128gcm16-prfsha256-ecp256", {}, { esp_proposals: "aes256gcm16, aes128gcm16" }));
    const up = events.length;
    await ch.initiate("t", { timeoutS: 10 });
    const [sa] = await ch.listSas();
    expect(sa).toMatchObject({ name: "c", state: "ESTABLISHED", initiator: true, dhGroup: "ECP_256", localPort: 4500, remotePort: 4500 });
    const mine = node!.ike.list();
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ state: "established", initiator: false, natt: true, group: 19, spiI: sa.initiatorSpi, spiR: sa.responderSpi });
    expect(mine[0].local.port).toBe(4500);
    expect(mine[0].children).toHaveLength(1);
    const c = mine[0].children[0];
    expect(c).toMatchObject({ mode: "tunnel", keyLen: 128, esn: false, localTs: "2001:db8:2::..2001:db8:2:0:ffff:ffff:ffff:ffff", remoteTs: "2001:db8:1::..2001:db8:1:0:ffff:ffff:ffff:ffff", tunnel: "charon" });
    expect(sa.children[0]).toMatchObject({ encrAlg: "AES_GCM_16", encrKeysize: 128 });
    expect(events.slice(up).map((e) => e.type)).toEqual(["ike-up", "child-up"]);
    expectKeysMatch(c);
    await ping(3);

    // our requests inside an IKE_SA charon initiated (our message IDs from 0, Initiator flag clear)
    expect(await node!.ike.ping(mine[0].id)).toBe(true);
    const fresh = await node!.ike.rekeyChild(mine[0].id, c.spiIn);
    expectKeysMatch(fresh);
    await waitFor(async () => ((await ch.listSas())[0]?.children ?? []).filter((x) => x.state === "INSTALLED").length === 1, 2_000, () => `charon to delete the rekeyed CHILD_SA\n${diag()}`);
    expect(node!.ike.list()[0].children.map((x) => x.spiIn)).toEqual([fresh.spiIn]);
    await ping(3);

    // charon deletes the CHILD_SA only: the IKE_SA stays, without children
    let mark = ch.mark();
    await ch.terminate({ child: "t" });
    await ch.waitForLog(/received DELETE for ESP CHILD_SA with SPI/, { from: mark, timeoutMs: 3_000 });
    expect(node!.ike.list()).toMatchObject([{ state: "established", children: [] }]);
    // only the inbound SA of the CHILD_SA we rekeyed above is left, for its grace period (rekeyedInboundGraceMs, 5 s)
    expect(node!.dp.esp.size).toBeLessThanOrEqual(1);
    await waitFor(() => node!.dp.esp.size === 0, 6_000, () => `the rekeyed CHILD_SA's inbound SA to go after its grace period: ${node!.dp.esp.size} SAs left`);

    mark = ch.mark();
    await ch.terminate({ ike: "c" });
    await expectAllGone();
    expect(events.slice(up).map((e) => e.type)).toEqual(["ike-up", "child-up", "child-up", "child-down", "child-down", "ike-down"]);
  });

  it("charon initiates with DPD every second; we answer its liveness checks; our delete of an IKE_SA charon initiated is honoured", { timeout: 20_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf("aes128gcm16-prfsha256-ecp256", { dpd_delay: "1s" }));
    await ch.initiate("t", { timeoutS: 10 });
    const [mine] = node!.ike.list();
    expectKeysMatch(mine.children[0]);
    const mark = ch.mark();
    await ch.waitForLog(/parsed INFORMATIONAL response \d+ \[ \]/, { from: mark, timeoutMs: 5_000 });
    await ping(2);
    const m2 = ch.mark();
    await node!.ike.deleteIkeSa(mine.id);
    await ch.waitForLog(/received DELETE for IKE_SA c\[\d+\]/, { from: m2, timeoutMs: 5_000 });
    await expectAllGone();
  });

  it("charon opens a second CHILD_SA for the same tunnel and deletes it again: our tunnel goes back to sending with the first (was: no-outbound-sa)", { timeout: 20_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    // child t2 = t with a narrower remote_ts, so that charon does not call it a duplicate
    const base = charonConf("aes128gcm16-prfsha256-ecp256");
    const t = /( {6}t \{\n[\s\S]*?\n {6}\}\n)/.exec(base)![1];
    await ch.reload(base.replace(t, t + t.replace(" t {", " t2 {").replace(`remote_ts = ${OUR_NET}`, "remote_ts = 2001:db8:2::/65")));
    await ch.initiate("t");
    await ch.initiate("t2"); // CREATE_CHILD_SA without REKEY_SA
    const [mine] = node!.ike.list();
    expect(mine.children.map((c) => c.localTs)).toEqual(["2001:db8:2::..2001:db8:2:0:ffff:ffff:ffff:ffff", "2001:db8:2::..2001:db8:2:0:7fff:ffff:ffff:ffff"]);
    for (const c of mine.children) expectKeysMatch(c);
    await ping(2);
    const [sa] = await ch.listSas();
    const newer = sa.children.find((c) => c.name === "t2")!;
    await ch.terminate({ childId: newer.uniqueid });
    await waitFor(() => node!.ike.list()[0]?.children.length === 1, 2_000, () => `our side to drop t2\n${diag()}`);
    expect(node!.ike.list()[0].children[0].spiIn).toBe(mine.children[0].spiIn);
    await ping(3); // replies go out on t's SA again
    await ch.terminate({ ike: "c" });
    await expectAllGone();
  });

  it("charon's 3 s CHILD_SA rekey_time and our own rekey while ping6 keeps flowing: no ping lost, every new SA's keys agree", { timeout: 40_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf("aes128gcm16-prfsha256-modp2048", {}, { rekey_time: "3s", life_time: "30s", rand_time: 0 }));
    const info = await node!.ike.initiate("c");
    expect(info.group).toBe(14);
    const first = info.children[0];
    expectKeysMatch(first);
    const count = 32; // 6.4 s of pings, across three rekeys
    const dropsBefore = node!.dp.drops();
    const pinging = ch.ping6(THEIR_HOST, OUR_HOST, { count, waitS: 2 });
    // 1. charon rekeys (CREATE_CHILD_SA with REKEY_SA from charon, then its DELETE of the old SA)
    const second = await rekeyedByCharon(first);
    expectKeysMatch(second);
    await sameOnBothSides();
    // 2. we rekey (CREATE_CHILD_SA with REKEY_SA from our side, then our DELETE)
    const third = await node!.ike.rekeyChild(info.id, second.spiIn);
    expect([third.spiIn, third.spiOut]).not.toContain(second.spiIn);
    expectKeysMatch(third);
    await sameOnBothSides();
    // 3. charon rekeys the SA we created, 3 s later
    const fourth = await rekeyedByCharon(third);
    expectKeysMatch(fourth);
    await sameOnBothSides();
    const r = await pinging;
    // Nothing dropped on our side for want of an SA: neither charon's packets on a new SA before we
    // had it (we send on the old SA until charon deletes it), nor on an old SA after its Delete.
    const unknownSpi = Number((node!.dp.drops()["unknown-spi"] ?? 0n) - (dropsBefore["unknown-spi"] ?? 0n));
    expect(r.received, `ping6 across the rekeys (${unknownSpi} unknown-spi drops on our side):\n${r.stdout}\n${diag()}`).toBe(count);
    expect(unknownSpi).toBe(0);
    expect(keys.filter((k) => k.info.spiIn === first.spiIn || [second, third, fourth].some((c) => c.spiIn === k.info.spiIn))).toHaveLength(4);

    await ch.terminate({ ike: "c" });
    await expectAllGone();
  });

  it("IKE_SA rekeys by charon (swanctl --rekey --ike) and by us while ping6 flows: the CHILD_SA moves to each new IKE_SA, CHILD_SA rekeys on it give keys equal to charon's (new SK_d), no ping lost", { timeout: 30_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf("aes128gcm16-prfsha256-ecp256"));
    const info = await node!.ike.initiate("c");
    const child = info.children[0];
    await ch.waitForLog(/CHILD_SA t\{\d+\} established/);
    const count = 20; // 4 s of pings across the rekeys
    const pinging = ch.ping6(THEIR_HOST, OUR_HOST, { count, waitS: 2 });
    /** charon and we hold the same single IKE_SA, not `old`, with the same CHILD_SA. */
    const sameIkeSa = (old: { spiI: string; spiR: string }) =>
      waitFor(
        async () => {
          const mine = node!.ike.list();
          const theirsL = await ch.listSas();
          if (mine.length !== 1 || theirsL.length !== 1 || theirsL[0].state !== "ESTABLISHED") return undefined;
          if (mine[0].spiI === old.spiI || mine[0].spiI !== theirsL[0].initiatorSpi || mine[0].spiR !== theirsL[0].responderSpi) return undefined;
          return mine[0].children.length === 1 && theirsL[0].children.filter((c) => c.state === "INSTALLED").length === 1 ? mine[0] : undefined;
        },
        5_000,
        () => `one new IKE_SA on both sides after ${old.spiI}: ours ${JSON.stringify(node!.ike.list())}\n${diag()}`,
      );
    // 1. charon rekeys the IKE_SA (we are the IKE_SA's initiator and the rekey's responder)
    let mark = ch.mark();
    await ch.rekey({ ike: "c" });
    await ch.waitForLog(/IKE_SA c\[\d+\] rekeyed between/i, { from: mark, timeoutMs: 5_000 }).catch(() => undefined);
    const second = await sameIkeSa(info);
    expect(second.initiator).toBe(false); // charon initiated the rekey: it is the new IKE_SA's original initiator
    expect(second.children[0].spiIn).toBe(child.spiIn);
    // the new IKE_SA works: our CHILD_SA rekey on it gives keys equal to charon's (derived from the new SK_d)
    const c2 = await node!.ike.rekeyChild(second.id, child.spiIn);
    expectKeysMatch(c2);
    // 2. we rekey the IKE_SA
    const third = await node!.ike.rekeyIkeSa(second.id);
    expect(third.initiator).toBe(true);
    await sameIkeSa(second);
    expect(await node!.ike.ping(third.id)).toBe(true);
    // 3. charon rekeys the CHILD_SA on the IKE_SA we made
    mark = ch.mark();
    await ch.rekey({ child: "t" });
    await waitFor(() => (node!.ike.list()[0]?.children ?? []).every((c) => c.spiIn !== c2.spiIn) && node!.ike.list()[0]?.children.length === 1, 5_000, () => `charon's CHILD_SA rekey\n${diag()}`);
    expectKeysMatch(node!.ike.list()[0].children[0]);
    const r = await pinging;
    expect(r.received, `ping6 across the IKE_SA rekeys:\n${r.stdout}\n${diag()}`).toBe(count);
    await ch.terminate({ ike: "c" });
    await expectAllGone();
  });

  describe("PFS (RFC 7296 §1.3.1, §2.17) and the larger DH groups; our UdpNode bound again with esp_proposals = aes128gcm16-curve25519-ecp256 and IKE groups 15–18, 21, 32 too", () => {
    beforeAll(async () => {
      if (skip) return;
      await node!.close();
      await bind(ourConfig(ours, theirs, "aes128gcm16-curve25519-ecp256", `${OUR_PROPOSALS}, ${MORE_GROUPS.map((g) => `aes128gcm16-prfsha256-${g[0]}`).join(", ")}`));
    }, 30_000);

    it.for(MORE_GROUPS)("IKE_SA with %s (group %i): charon initiates in it, then we initiate (ecp256 first, charon asks for it with INVALID_KE_PAYLOAD): keys agree, charon lists %s, ping6 answered", { timeout: 30_000 }, async ([kw, id, name], ctx) => {
      if (skip) return ctx.skip(skip);
      await ch.reload(charonConf(`aes128gcm16-prfsha256-${kw}`));
      await ch.initiate("t", { timeoutS: 10 });
      const [sa] = await ch.listSas();
      expect(sa).toMatchObject({ state: "ESTABLISHED", initiator: true, dhGroup: name });
      expect(node!.ike.list()).toMatchObject([{ state: "established", group: id }]);
      expectKeysMatch(node!.ike.list()[0].children[0]);
      await ping(2);
      await ch.terminate({ ike: "c" });
      await expectAllGone();
      const info = await node!.ike.initiate("c");
      expect(info.group).toBe(id);
      expect((await ch.listSas())[0]).toMatchObject({ initiator: false, dhGroup: name });
      expectKeysMatch(info.children[0]);
      await ping(2);
      await node!.ike.deleteIkeSa(info.id);
      await expectAllGone();
    });

    it("charon (esp_proposals aes128gcm16-ecp256, rekey_time 3 s) rekeys with an ecp256 KE that we take; we rekey offering curve25519 first and retry with ecp256 after charon's INVALID_KE_PAYLOAD: keys equal charon's (g^ir in KEYMAT), charon lists ECP_256, ping6 answered", { timeout: 40_000 }, async (ctx) => {
      if (skip) return ctx.skip(skip);
      await ch.reload(charonConf("aes128gcm16-prfsha256-ecp256", {}, { esp_proposals: "aes128gcm16-ecp256", rekey_time: "3s", life_time: "30s", rand_time: 0 }));
      const info = await node!.ike.initiate("c");
      const first = info.children[0];
      expect(first.dhGroup).toBeUndefined();
      expectKeysMatch(first);
      // 1. charon's rekey: CREATE_CHILD_SA with REKEY_SA, SA (ecp256), Ni, KEi (ecp256).
      const second = await rekeyedByCharon(first);
      expect(second.dhGroup).toBe(19);
      expectKeysMatch(second);
      await sameOnBothSides();
      expect(((await ch.listSas())[0].children.find((c) => c.state === "INSTALLED"))?.dhGroup).toBe("ECP_256");
      await ping(3);
      // 2. ours: KEi curve25519 first; charon answers INVALID_KE_PAYLOAD(19); we retry with ecp256.
      const mark = ch.mark();
      const third = await node!.ike.rekeyChild(info.id, second.spiIn);
      expect(third.dhGroup).toBe(19);
      expect(logs.join("\n")).toContain(`rekey of CHILD_SA t ${hex8(second.spiIn)}_i: the peer asks for DH group 19, not 31`);
      await ch.waitForLog(/DH group CURVE_25519 unacceptable, requesting ECP_256/, { from: mark, timeoutMs: 3_000 });
      expectKeysMatch(third);
      await sameOnBothSides();
      expect(((await ch.listSas())[0].children.find((c) => c.state === "INSTALLED"))?.dhGroup).toBe("ECP_256");
      await ping(3);
      // 3. a second CHILD_SA of ours on that IKE_SA (CREATE_CHILD_SA without REKEY_SA, KE again
      // after INVALID_KE_PAYLOAD): charon installs it with keys equal to ours.
      const extra = await node!.ike.createChild(info.id, "t");
      expect(extra.dhGroup).toBe(19);
      expectKeysMatch(extra);
      await waitFor(async () => ((await ch.listSas())[0]?.children ?? []).filter((c) => c.state === "INSTALLED" && c.dhGroup === "ECP_256").length >= 2, 3_000, () => `charon with two CHILD_SAs\n${diag()}`);
      await ping(3);
      await ch.terminate({ ike: "c" });
      await expectAllGone();
    });

    it("charon without PFS (esp_proposals aes128gcm16) while ours requires it: our rekey is refused with NO_PROPOSAL_CHOSEN and the CHILD_SA keeps working", { timeout: 20_000 }, async (ctx) => {
      if (skip) return ctx.skip(skip);
      await ch.reload(charonConf("aes128gcm16-prfsha256-ecp256", {}, { esp_proposals: "aes128gcm16" }));
      const info = await node!.ike.initiate("c");
      await expect(node!.ike.rekeyChild(info.id, info.children[0].spiIn)).rejects.toThrow("rekey refused: NO_PROPOSAL_CHOSEN");
      expect(node!.ike.list()[0].children.map((c) => c.spiIn)).toEqual([info.children[0].spiIn]);
      await ping(3);
      await ch.terminate({ ike: "c" });
      await expectAllGone();
    });
  });

  describe("certificates (RFC 7296 §3.6–3.8, RFC 7427): our UdpNode bound again with a pubkey connection", () => {
    let certDir = "";
    const certConf = (me: string, peer: string) =>
      loadConfig(
        `
connections {
  c {
    local_addrs = ${me}
    remote_addrs = ${peer}
    proposals = aes128gcm16-prfsha256-ecp256
    local { auth = pubkey
      certs = ours.pem
      id = ${me} }
    remote { auth = pubkey
      cacerts = ca.pem
      id = ${peer} }
    children {
      t {
        local_ts = ${OUR_NET}
        remote_ts = ${THEIR_NET}
        esp_proposals = aes128gcm16
      }
    }
  }
}
tunnels { charon { local = ${me}
  remote = ${peer}
  address = ${OUR_HOST}/64
  routes = ${THEIR_NET}
  allow = ${THEIR_NET} } }
`,
        { file: "ours-certs.conf" },
      );
    /** charon's swanctl.conf: the PSK one with pubkey authentication instead. */
    const charonCertConf = () =>
      charonConf("aes128gcm16-prfsha256-ecp256")
        .replace(/local \{\n\s*auth = psk/, "local {\n      auth = pubkey\n      certs = charon.pem")
        .replace(/remote \{\n\s*auth = psk/, "remote {\n      auth = pubkey\n      cacerts = ca.pem")
        .replace(/secrets \{[\s\S]*$/, "");

    beforeAll(async () => {
      if (skip) return;
      certDir = lab!.tempDir("certs");
      makeCerts(certDir, ["ca"], [
        { name: "ours", type: "ec", ip: ours },
        { name: "charon", type: "rsa", ip: theirs },
      ]);
      for (const [from, to] of [["x509ca/ca.pem", "x509ca/ca.pem"], ["x509/charon.pem", "x509/charon.pem"], ["rsa/charon.key", "rsa/charon.key"]]) copyFileSync(join(certDir, from), join(ch.dir, to));
      await node!.close();
      await bind(certConf(ours, theirs), { swanctlDir: certDir });
      await ch.reload(charonCertConf());
    }, 60_000);

    it("charon initiates (RSA certificate, RFC 7427 signature) and we answer with our ECDSA one; then we initiate: both authenticate, keys agree, ping6 answered", { timeout: 30_000 }, async (ctx) => {
      if (skip) return ctx.skip(skip);
      await ch.initiate("t", { timeoutS: 10 });
      const [sa] = await ch.listSas();
      expect(sa).toMatchObject({ state: "ESTABLISHED", initiator: true, localId: theirs, remoteId: ours });
      expect(ch.log()).toMatch(/authentication of '[\d.]+' with ECDSA_WITH_SHA256_DER successful/);
      const [mine] = node!.ike.list();
      expect(mine).toMatchObject({ state: "established", initiator: false });
      expect(logs.join("\n")).not.toMatch(/refused|failed/);
      expectKeysMatch(mine.children[0]);
      await ping(2);
      await ch.terminate({ ike: "c" });
      await expectAllGone();

      const mark = ch.mark();
      const info = await node!.ike.initiate("c");
      expect(info.state).toBe("established");
      await ch.waitForLog(/CHILD_SA t\{\d+\} established/, { from: mark });
      expect(ch.log().slice(0)).toMatch(/authentication of '[\d.]+' \(myself\) with RSA_EMSA_PKCS1_SHA2_256 successful/);
      expectKeysMatch(info.children[0]);
      await ping(2);
      await node!.ike.deleteIkeSa(info.id);
      await expectAllGone();
    });

    it("charon with a certificate from a CA we do not trust: AUTHENTICATION_FAILED, no SAs", { timeout: 20_000 }, async (ctx) => {
      if (skip) return ctx.skip(skip);
      const other = lab!.tempDir("certs-other");
      makeCerts(other, ["rogue-ca"], [{ name: "charon", type: "rsa", ip: theirs }]);
      for (const f of ["x509/charon.pem", "rsa/charon.key"]) copyFileSync(join(other, f), join(ch.dir, f));
      copyFileSync(join(other, "x509ca/rogue-ca.pem"), join(ch.dir, "x509ca/rogue-ca.pem"));
      await ch.reload(charonCertConf());
      await expect(node!.ike.initiate("c")).rejects.toThrow(/not issued by a trusted CA/);
      expect(node!.ike.list()).toEqual([]);
      expect(node!.dp.esp.size).toBe(0);
      await waitFor(async () => (await ch.listSas()).length === 0, 5_000, () => `charon to give up\n${diag()}`);
    });
  });
});
