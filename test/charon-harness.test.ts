// Smoke test of the strongSwan charon harness (test/helpers/charon.ts, test/helpers/netns.ts).
//
// 1. Two charons in two network namespaces joined by a veth pair (initiator 192.0.2.1,
//    responder 192.0.2.2; kernel-libipsec, so ESP-in-UDP over ipsec0 TUN devices) set up an
//    IKE_SA (aes128gcm16-prfsha256-ecp256, PSK, IPv4-address IDs) and a tunnel-mode CHILD_SA
//    2001:db8:1::/64 === 2001:db8:2::/64 (aes128gcm16); ping6 crosses it; the IKE and CHILD
//    keys each side printed in its level-4 log agree; the initiator deletes the IKE_SA and the
//    responder notices.
// 2. The documented layout for our own endpoint: charon in a namespace, the other veth end in
//    the root namespace (first free documentation pair, normally 198.51.100.1 root /
//    198.51.100.2 charon — never 192.0.2.x here: that is this machine's own uplink); a UDP
//    socket of this very process bound to ROOT:500 receives charon's IKE_SA_INIT, and what it
//    sends reaches charon.
import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Charon, charonVersions, ensureCharon, swanctlConf } from "./helpers/charon.js";
import { NetLab, netnsSkipReason, waitFor } from "./helpers/netns.js";
import { inCI } from "./helpers/apt.js";

const PSK = "ipsec6in4-harness-smoke-psk";

function prerequisites(): string | undefined {
  const why = netnsSkipReason();
  if (why) {
    if (inCI) throw new Error(why);
    return why;
  }
  return ensureCharon();
}

describe("charon harness: two charons, IPv6-in-IPv4 tunnel over kernel-libipsec", () => {
  let skip: string | undefined;
  let lab: NetLab | undefined;
  let ini: Charon;
  let res: Charon;

  beforeAll(async () => {
    skip = prerequisites();
    if (skip) return;
    const v = charonVersions();
    console.log(`charon: ${v.charon}; swanctl: ${v.swanctl}; deb ${v.deb}`);
    lab = new NetLab();
    const a = lab.ns("ini");
    const b = lab.ns("res");
    lab.veth(a, b, { nameA: "eth0", nameB: "eth0", addrA: ["192.0.2.1/24"], addrB: ["192.0.2.2/24"] });
    a.ip("addr", "add", "2001:db8:1::1/128", "dev", "lo");
    b.ip("addr", "add", "2001:db8:2::1/128", "dev", "lo");
    const common = { psk: PSK };
    [ini, res] = await Promise.all([
      Charon.start({ lab, ns: a, swanctlConf: swanctlConf({ ...common, localAddr: "192.0.2.1", remoteAddr: "192.0.2.2", localTs: "2001:db8:1::/64", remoteTs: "2001:db8:2::/64" }) }),
      Charon.start({ lab, ns: b, swanctlConf: swanctlConf({ ...common, localAddr: "192.0.2.2", remoteAddr: "192.0.2.1", localTs: "2001:db8:2::/64", remoteTs: "2001:db8:1::/64" }) }),
    ]);
    await Promise.all([ini.load(), res.load()]);
  }, 600_000);

  afterAll(async () => {
    await Promise.all([ini?.stop(), res?.stop()]);
    lab?.cleanup();
  });

  it("establishes IKE_SA + tunnel-mode CHILD_SA, carries ping6, logs matching keys, and deletes cleanly", { timeout: 60_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    const t0 = Date.now();
    await ini.initiate("t", { timeoutS: 15 });
    await res.waitForLog(/CHILD_SA t\{\d+\} established/, { timeoutMs: 5_000 });
    const tUp = Date.now() - t0;

    const [si, sr] = [await ini.listSas(), await res.listSas()];
    expect(si).toHaveLength(1);
    expect(sr).toHaveLength(1);
    const [i, r] = [si[0], sr[0]];
    expect(i).toMatchObject({ name: "c", state: "ESTABLISHED", initiator: true, localHost: "192.0.2.1", remoteHost: "192.0.2.2", localId: "192.0.2.1", remoteId: "192.0.2.2" });
    expect(r).toMatchObject({ name: "c", state: "ESTABLISHED", initiator: false, localHost: "192.0.2.2", remoteHost: "192.0.2.1" });
    // kernel-libipsec forces UDP encapsulation: IKE floated to 4500
    expect([i.localPort, i.remotePort, r.localPort, r.remotePort]).toEqual([4500, 4500, 4500, 4500]);
    expect(i.encrAlg).toBe("AES_GCM_16");
    expect(i.prfAlg).toBe("PRF_HMAC_SHA2_256");
    expect(i.dhGroup).toBe("ECP_256");
    expect([i.initiatorSpi, i.responderSpi]).toEqual([r.initiatorSpi, r.responderSpi]);
    expect(i.children).toHaveLength(1);
    expect(r.children).toHaveLength(1);
    const [ci, cr] = [i.children[0], r.children[0]];
    expect(ci).toMatchObject({ name: "t", state: "INSTALLED", mode: "TUNNEL", protocol: "ESP", encap: true, encrAlg: "AES_GCM_16", encrKeysize: 128 });
    expect(ci.localTs).toEqual(["2001:db8:1::/64"]);
    expect(ci.remoteTs).toEqual(["2001:db8:2::/64"]);
    expect(cr.localTs).toEqual(["2001:db8:2::/64"]);
    expect([ci.spiIn, ci.spiOut]).toEqual([cr.spiOut, cr.spiIn]);

    // charon installed the route to the remote selector via ipsec0 (table 220) in each namespace
    expect(ini.ns.ip("-6", "route", "show", "table", "220")).toMatch(/^2001:db8:2::\/64 dev ipsec0 .*src 2001:db8:1::1/m);
    expect(res.ns.ip("-6", "route", "show", "table", "220")).toMatch(/^2001:db8:1::\/64 dev ipsec0 .*src 2001:db8:2::1/m);

    const ping = await ini.ping6("2001:db8:1::1", "2001:db8:2::1", { count: 3 });
    expect(ping.received, `ping6 through the tunnel:\n${ping.stdout}${ping.stderr}\n${ini.logTail(20)}\n${res.logTail(20)}`).toBe(3);
    const [after] = await ini.listSas();
    expect(after.children[0].packetsOut).toBeGreaterThanOrEqual(3);
    expect(after.children[0].packetsIn).toBeGreaterThanOrEqual(3);

    // Keys: both views agree, are complete for AEAD (no SK_a*), and the right lengths.
    const [ki, kr] = [ini.ikeKeys(), res.ikeKeys()];
    expect(ki).toHaveLength(1);
    expect(kr).toHaveLength(1);
    expect(ki[0]).toEqual({ ...kr[0] });
    expect(ki[0]).toMatchObject({ ikeName: "c", ikeUniqueId: 1 });
    expect(ki[0].SK_d).toMatch(/^[0-9a-f]{64}$/);
    expect(ki[0].SK_ei).toMatch(/^[0-9a-f]{40}$/); // 16-byte AES key + 4-byte salt
    expect(ki[0].SK_er).toMatch(/^[0-9a-f]{40}$/);
    expect(ki[0].SK_pi).toMatch(/^[0-9a-f]{64}$/);
    expect(ki[0].SK_pr).toMatch(/^[0-9a-f]{64}$/);
    expect(ki[0].SK_ai).toBeUndefined();
    expect(new Set([ki[0].SK_d, ki[0].SK_ei, ki[0].SK_er, ki[0].SK_pi, ki[0].SK_pr]).size).toBe(5);

    const [chi, chr] = [ini.childKeys(), res.childKeys()];
    expect(chi).toHaveLength(1);
    expect(chr).toHaveLength(1);
    expect(chi[0]).toMatchObject({ name: "t", initiator: true, spiIn: ci.spiIn, spiOut: ci.spiOut, localTs: "2001:db8:1::/64", remoteTs: "2001:db8:2::/64" });
    expect(chr[0]).toMatchObject({ name: "t", initiator: false, spiIn: cr.spiIn, spiOut: cr.spiOut });
    expect(chi[0].encrI).toMatch(/^[0-9a-f]{40}$/);
    expect(chi[0].encrR).toMatch(/^[0-9a-f]{40}$/);
    expect(chi[0].encrI).not.toBe(chi[0].encrR);
    expect([chi[0].encrI, chi[0].encrR]).toEqual([chr[0].encrI, chr[0].encrR]);
    expect(chi[0].integI).toBeUndefined();
    // what one side sends with is what the other receives with, SPI and key
    expect(chi[0].outbound).toEqual(chr[0].inbound);
    expect(chi[0].inbound).toEqual(chr[0].outbound);
    expect(chi[0].outbound.encr).toBe(chi[0].encrI);

    // Delete from the initiator; the responder notices.
    const mark = res.mark();
    await ini.terminate({ ike: "c", timeoutS: 10 });
    await res.waitForLog(/received DELETE for IKE_SA c\[\d+\]/, { from: mark, timeoutMs: 10_000 });
    await waitFor(async () => (await res.listSas()).length === 0, 5_000, () => `responder's IKE_SA to go away\n${res.logTail()}`);
    expect(await ini.listSas()).toEqual([]);
    expect(res.ns.ip("-6", "route", "show", "table", "220")).not.toMatch(/2001:db8:1::\/64/);
    console.log(`IKE_SA + CHILD_SA up in ${tUp} ms; whole test ${Date.now() - t0} ms`);
  });
});

describe("charon harness: our endpoint in the root namespace opposite a namespaced charon", () => {
  let skip: string | undefined;
  let lab: NetLab | undefined;
  let ch: Charon;
  let ours = "";
  let theirs = "";
  const sockets: Socket[] = [];

  beforeAll(async () => {
    skip = prerequisites();
    if (skip) return;
    lab = new NetLab();
    const ns = lab.ns("peer");
    ({ rootAddr: ours, nsAddr: theirs } = await lab.rootVeth(ns));
    console.log(`root namespace ${ours} <-> charon ${theirs} in ${ns.name}`);
    ns.ip("addr", "add", "2001:db8:2::1/128", "dev", "lo");
    ch = await Charon.start({
      lab,
      ns,
      swanctlConf: swanctlConf({ psk: PSK, localAddr: theirs, remoteAddr: ours, localTs: "2001:db8:2::/64", remoteTs: "2001:db8:1::/64" }),
      charonOptions: { retransmit_tries: 1, retransmit_timeout: "0.5" },
    });
    await ch.load();
  }, 600_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    await ch?.stop();
    lab?.cleanup();
  });

  it("a UDP socket of the vitest process on the root-side address, port 500, exchanges datagrams with charon", { timeout: 30_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    const sock = createSocket({ type: "udp4" });
    sockets.push(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(500, ours, () => resolve());
    });
    const got = new Promise<{ msg: Buffer; from: string; port: number }>((resolve) =>
      sock.once("message", (msg, rinfo) => resolve({ msg, from: rinfo.address, port: rinfo.port })),
    );
    const initiating = ch.initiate("t", { timeoutS: 5 }).then(
      () => "established?!",
      (e: Error) => e.message,
    );
    const { msg, from, port } = await Promise.race([
      got,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no IKE_SA_INIT from charon within 10 s\n${ch.logTail()}`)), 10_000)),
    ]);
    expect(from).toBe(theirs);
    expect(port).toBe(500);
    expect(msg[17]).toBe(0x20); // IKEv2
    expect(msg[18]).toBe(34); // IKE_SA_INIT
    expect(msg.readUInt32BE(8)).toBe(0); // responder SPI zero

    // And the other direction: charon receives what this process sends from 192.0.2.1:500.
    const mark = ch.mark();
    const bogus = Buffer.alloc(28);
    msg.copy(bogus, 0, 0, 8); // initiator SPI
    bogus[16] = 0; // next payload
    bogus[17] = 0x20;
    bogus[18] = 34;
    bogus[19] = 0x20; // response flag
    bogus.writeUInt32BE(28, 24);
    await new Promise<void>((resolve, reject) => sock.send(bogus, 500, theirs, (e) => (e ? reject(e) : resolve())));
    await ch.waitForLog(`received packet: from ${ours}[500] to ${theirs}[500]`, { from: mark, timeoutMs: 5_000 });
    const outcome = await initiating;
    expect(outcome).toMatch(/failed/);
  });
});
