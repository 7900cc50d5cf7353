// Our tunnel daemon against strongSwan's charon: `ipsec6in4 up` in namespace A, charon
// (5.9.8, kernel-libipsec: ESP in user space over its TUN device ipsec0) in namespace B, a veth
// between them with the IPv4 endpoints 203.0.113.1 (A) and 203.0.113.2 (B). Tunnel mode with
// IPv6 selectors (2001:db8:a::/64 behind A, 2001:db8:b::/64 behind B) over UDP 4500: charon's
// kernel-libipsec always claims NAT, so IKE floats to 4500 and ESP is ESP-in-UDP both ways.
// The kernel's own `ping -6` in each namespace between the inner addresses goes through both
// TUN devices: A's t6 (our daemon's, addressed and routed from our `tunnels` section) and B's
// ipsec0 (charon routes 2001:db8:a::/64 there in table 220, source 2001:db8:b::1 from lo).
// Shown:
//   1. our daemon initiates (start_action = start); ping6 both ways; our CHILD_SA rekey_time
//      (8 s) makes our daemon rekey: new SPIs in `ipsec6in4 status --json` and in charon's
//      `swanctl --list-sas`, equal on both sides, ping6 goes on; charon deletes the CHILD_SA
//      (`swanctl --terminate --child`): our IKE_SA stays without it; charon creates a new one
//      on the same IKE_SA (`swanctl --initiate`), ping6 again; charon deletes the IKE_SA: our
//      status lists none; `ipsec6in4 down`.
//   2. charon initiates (`swanctl --initiate`); its rekey_time (8 s) makes charon rekey, with
//      PFS (both sides' esp_proposals name ecp256: KE payloads, status shows AES_GCM_16-128/ECP_256),
//      we answer: new SPIs on both sides, ping6 goes on; `ipsec6in4 down --ike` deletes our
//      IKE_SA: charon lists none; charon initiates again, SIGTERM on our daemon: charon lists
//      none and its route into ipsec0 is gone.
//   3. our IKE_SA rekey_time (6 s): new IKE SPIs on both sides, the CHILD_SA moves to the new
//      IKE_SA with its SPIs and counters (RFC 7296 §2.18), ping6 goes on; SIGINT stops ours.
//      (This found a daemon bug: status lost the CHILD_SA's counters after an IKE_SA rekey.)
// Packet and byte counters of the CHILD_SA agree between our status and charon's list-sas.
// DAEMON_CHARON_DUMP=path/prefix writes both sides' logs at the end.
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadAddon } from "../src/node/addon.js";
import type { DaemonStatus, IkeStatus } from "../src/daemon.js";
import { Charon, ensureCharon, swanctlConf, type IkeSa } from "./helpers/charon.js";
import { daemonCli, daemonStatus, killDaemon, runCli, startDaemon, type DaemonCli, type DaemonProc } from "./helpers/daemon.js";
import { NetLab, netnsSkipReason, waitFor, type Netns } from "./helpers/netns.js";
import { inCI } from "./helpers/apt.js";

const PSK = "ipsec6in4 daemon and charon";
const OURS = "203.0.113.1";
const THEIRS = "203.0.113.2";
const OUR_NET = "2001:db8:a::/64";
const OUR_HOST = "2001:db8:a::1";
const THEIR_NET = "2001:db8:b::/64";
const THEIR_HOST = "2001:db8:b::1";

function prerequisites(): string | undefined {
  const addon = loadAddon();
  const why = netnsSkipReason() ?? (addon.ok ? undefined : addon.reason);
  if (why) {
    if (inCI) throw new Error(why);
    return why;
  }
  return ensureCharon();
}

/** Our daemon's configuration: one connection, one tunnel-mode child, tunnel t6 with its TUN device. */
function ourConf(o: { start: boolean; child?: string; ike?: string; esp?: string }): string {
  return `
connections {
  net {
    local_addrs = ${OURS}
    remote_addrs = ${THEIRS}
    encap = yes
    proposals = aes128gcm16-prfsha256-ecp256
    ${o.ike ?? ""}
    local { auth = psk
      id = ${OURS} }
    remote { auth = psk
      id = ${THEIRS} }
    children {
      v6 {
        mode = tunnel
        local_ts = ${OUR_NET}
        remote_ts = ${THEIR_NET}
        esp_proposals = ${o.esp ?? "aes128gcm16"}
        start_action = ${o.start ? "start" : "none"}
        ${o.child ?? ""}
      }
    }
  }
}
secrets { ike-net { secret = "${PSK}" } }
tunnels {
  t6 {
    local = ${OURS}
    remote = ${THEIRS}
    address = ${OUR_HOST}/64
    routes = ${THEIR_NET}
  }
}
`;
}

const charonConf = (childOpts: Record<string, string | number> = {}) =>
  swanctlConf({ psk: PSK, localAddr: THEIRS, remoteAddr: OURS, localTs: THEIR_NET, remoteTs: OUR_NET, childOpts });

describe("daemon ⇄ strongSwan charon (kernel-libipsec) in two namespaces: tunnel mode, IPv6 selectors, UDP 4500", () => {
  let skip: string | undefined;
  let lab: NetLab | undefined;
  let A: Netns;
  let B: Netns;
  let dir: string;
  let cli: DaemonCli | undefined;
  let ch: Charon;
  const procs: DaemonProc[] = [];

  beforeAll(async () => {
    skip = prerequisites();
    if (skip) return;
    lab = new NetLab();
    A = lab.ns("dA");
    B = lab.ns("cB");
    lab.veth(A, B, { nameA: "eth0", nameB: "eth0", addrA: [`${OURS}/24`], addrB: [`${THEIRS}/24`] });
    // charon's route into ipsec0 gets this source address (see test/helpers/charon.ts).
    B.ip("addr", "add", `${THEIR_HOST}/128`, "dev", "lo");
    dir = lab.tempDir("dch");
    cli = await daemonCli();
    ch = await Charon.start({ lab, ns: B, swanctlConf: charonConf(), charonOptions: { retransmit_tries: 2, retransmit_timeout: "0.5" } });
  }, 600_000);

  // A case that failed half-way leaves neither a daemon holding A's ports nor SAs in charon.
  beforeEach(async () => {
    if (skip) return;
    for (const p of procs.splice(0)) {
      await killDaemon(p);
      logs.push(p.log());
    }
    for (const sa of await ch.listSas()) await ch.terminate({ ikeId: sa.uniqueid, force: true }).catch(() => undefined);
  });

  const logs: string[] = [];
  afterAll(async () => {
    if (process.env.DAEMON_CHARON_DUMP && ch) writeFileSync(`${process.env.DAEMON_CHARON_DUMP}.charon.log`, ch.log());
    if (process.env.DAEMON_CHARON_DUMP) writeFileSync(`${process.env.DAEMON_CHARON_DUMP}.ours.log`, [...logs, ...procs.map((p) => p.log())].join("\n"));
    for (const p of procs) await killDaemon(p);
    await ch?.stop();
    lab?.cleanup();
    cli?.dispose();
  });

  const diag = (d?: DaemonProc) => `--- our daemon's log ---\n${d?.log().split("\n").slice(-30).join("\n") ?? ""}\n${ch.logTail(30)}`;

  const ours = async (d: DaemonProc): Promise<DaemonStatus> => {
    const r = await runCli(cli!, ["status", "--json", "--socket", d.socket]);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as DaemonStatus;
  };

  /** One IKE_SA with one CHILD_SA on both sides, the same SPIs; resolves to both views. */
  const bothEstablished = async (d: DaemonProc, notSpi?: string): Promise<{ mine: IkeStatus; theirs: IkeSa }> => {
    let last: unknown;
    return waitFor(
      async () => {
        const s = await daemonStatus(d);
        const l = await ch.listSas();
        last = { ours: s?.sas, charon: l.map((x) => ({ ...x, raw: undefined, children: x.children.map((c) => ({ ...c, raw: undefined })) })) };
        if (s?.sas.length !== 1 || s.sas[0].state !== "ESTABLISHED" || s.sas[0].children.length !== 1) return undefined;
        const c = s.sas[0].children[0];
        if (notSpi && c.in?.spi === notSpi) return undefined;
        // charon keeps a rekeyed CHILD_SA listed as DELETED for a while (delete_rekeyed_delay).
        const installed = l[0]?.children.filter((t) => t.state === "INSTALLED") ?? [];
        if (l.length !== 1 || l[0].state !== "ESTABLISHED" || installed.length !== 1) return undefined;
        const [t] = installed;
        if (t.spiIn !== c.out?.spi || t.spiOut !== c.in?.spi) return undefined;
        return { mine: s.sas[0], theirs: { ...l[0], children: installed } };
      },
      20_000,
      () => `one IKE_SA + one CHILD_SA with matching SPIs on both sides${notSpi ? ` (other than ${notSpi})` : ""}; last seen ${JSON.stringify(last, null, 1)}\n${diag(d)}`,
      100,
    );
  };

  const ping = async (ns: Netns, from: string, to: string, d: DaemonProc, count = 3) => {
    const r = await ns.execAsync(["ping", "-6", "-n", "-c", String(count), "-i", "0.2", "-W", "2", "-I", from, to], { timeout: 20_000 });
    const m = /(\d+) received/.exec(r.stdout);
    expect(m ? Number(m[1]) : 0, `ping -6 -I ${from} ${to} in ${ns.name}:\n${r.stdout}${r.stderr}\n${diag(d)}`).toBe(count);
  };

  /** Packets through charon's ipsec0 (`ip -s link`): rx = decrypted by charon, tx = from B's kernel into ESP. */
  const ipsec0 = () => {
    const out = B.ip("-s", "-j", "link", "show", "dev", "ipsec0");
    const [l] = JSON.parse(out) as { stats64: { rx: { packets: number }; tx: { packets: number } } }[];
    return { rx: l.stats64.rx.packets, tx: l.stats64.tx.packets };
  };

  /** ping6 both ways; both sides count the same ESP packets on the current CHILD_SA. */
  const pingAndCompare = async (d: DaemonProc) => {
    await ping(A, OUR_HOST, THEIR_HOST, d);
    await ping(B, THEIR_HOST, OUR_HOST, d);
    const c = (await ours(d)).sas[0].children[0];
    const t = (await ch.listSas())[0]?.children.find((x) => x.spiIn === c.out!.spi);
    expect(t, `charon's CHILD_SA ${c.out!.spi}_i\n${diag(d)}`).toBeDefined();
    expect(c.out!.packets).toBeGreaterThanOrEqual(6);
    expect({ in: c.in!.packets, out: c.out!.packets, inBytes: c.in!.bytes, outBytes: c.out!.bytes }).toEqual({
      in: t!.packetsOut,
      out: t!.packetsIn,
      inBytes: t!.bytesOut,
      outBytes: t!.bytesIn,
    });
  };

  /** The checks common to both cases once the tunnel is up: what each side says and ping6 both ways through both TUN devices. */
  const expectTunnel = async (d: DaemonProc, ourInitiator: boolean) => {
    const { mine, theirs } = await bothEstablished(d);
    expect(mine).toMatchObject({ connection: "net", initiator: ourInitiator, natt: true, local: `${OURS}[4500]`, remote: `${THEIRS}[4500]`, algorithm: "AES_GCM_16/PRF_HMAC_SHA2_256/ECP_256" });
    expect(mine.children[0]).toMatchObject({ name: "v6", mode: "TUNNEL", encap: true, algorithm: "AES_GCM_16-128", localTs: OUR_NET, remoteTs: THEIR_NET, tunnel: "t6" });
    expect(theirs).toMatchObject({ name: "c", initiator: !ourInitiator, localPort: 4500, remotePort: 4500, remoteId: OURS, encrAlg: "AES_GCM_16", dhGroup: "ECP_256" });
    expect(theirs.initiatorSpi).toBe(mine.spiI);
    expect(theirs.responderSpi).toBe(mine.spiR);
    expect(theirs.children[0]).toMatchObject({ mode: "TUNNEL", encap: true, localTs: [THEIR_NET], remoteTs: [OUR_NET] });
    expect(A.ip("-6", "route", "show", THEIR_NET)).toContain("dev t6");
    expect(B.ip("-6", "route", "show", "table", "220")).toMatch(new RegExp(`^${OUR_NET.replace(/[.:/]/g, "\\$&")} dev ipsec0 .*src ${THEIR_HOST}`, "m"));

    const charonChild = async (spiIn: string) => {
      const t = (await ch.listSas())[0]?.children.find((x) => x.spiIn === spiIn);
      expect(t, `charon's CHILD_SA ${spiIn}_i`).toBeDefined();
      return t!;
    };
    const s0 = await ours(d);
    const c0 = s0.sas[0].children[0];
    const before = { tun: s0.tunnels[0].tun!, ipsec0: ipsec0(), t: await charonChild(c0.out!.spi) };
    await ping(A, OUR_HOST, THEIR_HOST, d);
    await ping(B, THEIR_HOST, OUR_HOST, d);
    const s1 = await ours(d);
    const c = s1.sas[0].children[0];
    expect(c.in!.spi).toBe(c0.in!.spi); // no rekey in between (rekey_time is 8 s)
    const after = { tun: s1.tunnels[0].tun!, ipsec0: ipsec0(), t: await charonChild(c.out!.spi) };
    // 3 echo requests and 3 replies each way: 6 ESP packets each way on the CHILD_SA, counted
    // alike by both sides.
    expect(c.out!.packets - c0.out!.packets).toBe(6);
    expect(c.in!.packets - c0.in!.packets).toBe(6);
    expect(after.t.packetsIn - before.t.packetsIn).toBe(6);
    expect(after.t.packetsOut - before.t.packetsOut).toBe(6);
    expect(c.out!.packets).toBe(after.t.packetsIn);
    expect(c.in!.packets).toBe(after.t.packetsOut);
    // …and they crossed both TUN devices both ways (a TUN's "tx" is what its kernel sends into
    // the tunnel). "At least": each kernel may add its own link-local chatter (MLD, RS) there.
    expect(after.tun.rxPackets - before.tun.rxPackets).toBeGreaterThanOrEqual(6);
    expect(after.tun.txPackets - before.tun.txPackets).toBeGreaterThanOrEqual(6);
    expect(after.ipsec0.rx - before.ipsec0.rx).toBeGreaterThanOrEqual(6);
    expect(after.ipsec0.tx - before.ipsec0.tx).toBeGreaterThanOrEqual(6);
    return c;
  };

  it("our daemon initiates; ping6 both ways; our rekey_time rekeys the CHILD_SA; charon deletes the CHILD_SA, makes a new one, deletes the IKE_SA; `down`", { timeout: 90_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf());
    const mark = ch.mark();
    const d = startDaemon(cli!, A, dir, "a1", ourConf({ start: true, child: "rekey_time = 8s\n        life_time = 30s\n        rand_time = 0" }));
    procs.push(d);
    const first = await expectTunnel(d, true);

    // Our rekey_time: our daemon starts CREATE_CHILD_SA with REKEY_SA after 8 s, the old SA goes.
    const { mine, theirs } = await bothEstablished(d, first.in!.spi);
    const rekeyed = mine.children[0];
    expect(rekeyed.in!.spi).not.toBe(first.in!.spi);
    expect(rekeyed.out!.spi).not.toBe(first.out!.spi);
    expect(theirs.children[0]).toMatchObject({ spiIn: rekeyed.out!.spi, spiOut: rekeyed.in!.spi });
    await ch.waitForLog(/parsed CREATE_CHILD_SA request \d+ \[.*N\(REKEY_SA\)/, { from: mark });
    expect(ch.log().slice(mark)).not.toMatch(/generating CREATE_CHILD_SA request/); // charon did not start it
    await pingAndCompare(d);

    // charon deletes the CHILD_SA alone: our IKE_SA stays, without children.
    await ch.terminate({ child: "t" });
    await waitFor(async () => (await daemonStatus(d))?.sas[0]?.children.length === 0, 5_000, () => `our CHILD_SA gone\n${diag(d)}`);
    const lone = (await ours(d)).sas;
    expect(lone).toMatchObject([{ state: "ESTABLISHED", children: [] }]);
    // charon asks for a new CHILD_SA on that IKE_SA (CREATE_CHILD_SA without REKEY_SA): traffic flows again.
    const mark2 = ch.mark();
    await ch.initiate("t");
    await ch.waitForLog(/generating CREATE_CHILD_SA request \d+ \[ SA No TSi TSr \]/, { from: mark2 });
    const again = await bothEstablished(d);
    expect(again.mine.spiI).toBe(lone[0].spiI);
    await pingAndCompare(d);
    expect((await ours(d)).drops).toEqual({});
    // …and then the IKE_SA: our status lists none.
    await ch.terminate({ ike: "c" });
    await waitFor(async () => (await daemonStatus(d))?.sas.length === 0, 5_000, () => `our IKE_SA gone\n${diag(d)}`);
    expect(await ch.listSas()).toEqual([]);
    expect(d.log()).toMatch(/IKE_SA net\[\d+\] deleted by peer/);

    const down = await runCli(cli!, ["down", "--socket", d.socket]);
    expect(down.status, down.stderr).toBe(0);
    expect(await d.exited).toBe(0);
    expect(A.exec(["ip", "link", "show", "t6"]).status).not.toBe(0);
    expect(d.log()).not.toMatch(new RegExp(`${PSK}|=>|[0-9a-f]{40}`, "i"));
  });

  it("charon initiates; ping6 both ways; charon's rekey_time rekeys the CHILD_SA; `down --ike` and SIGTERM delete ours, charon notices", { timeout: 90_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    // Both with PFS (esp_proposals …-ecp256): charon's rekey carries a KE payload.
    await ch.reload(charonConf({ rekey_time: "8s", life_time: "30s", rand_time: 0, esp_proposals: "aes128gcm16-ecp256" }));
    const mark = ch.mark();
    const d = startDaemon(cli!, A, dir, "a2", ourConf({ start: false, esp: "aes128gcm16-ecp256" }));
    procs.push(d);
    await waitFor(() => daemonStatus(d), 10_000, () => `our control socket\n${diag(d)}`);
    await ch.initiate("t");
    const first = await expectTunnel(d, false);

    // charon's rekey_time: charon starts the CREATE_CHILD_SA, we answer; the old SA goes.
    const { mine, theirs } = await bothEstablished(d, first.in!.spi);
    const rekeyed = mine.children[0];
    expect(rekeyed.out!.spi).not.toBe(first.out!.spi);
    expect(theirs.children[0]).toMatchObject({ spiIn: rekeyed.out!.spi, spiOut: rekeyed.in!.spi, dhGroup: "ECP_256" });
    expect(rekeyed).toMatchObject({ algorithm: "AES_GCM_16-128/ECP_256", dhGroup: "ECP_256" }); // as swanctl --list-sas
    expect(first.dhGroup).toBeUndefined(); // IKE_AUTH's CHILD_SA: no PFS
    await ch.waitForLog(/generating CREATE_CHILD_SA request \d+ \[ N\(REKEY_SA\) SA No KE TSi TSr \]/, { from: mark });
    expect(ch.log().slice(mark)).not.toMatch(/parsed CREATE_CHILD_SA request/); // we did not start it
    await pingAndCompare(d);

    // `ipsec6in4 down --ike net` deletes our IKE_SA (the daemon keeps running): charon lists none.
    const down = await runCli(cli!, ["down", "--ike", "net", "--socket", d.socket]);
    expect(down.status, down.stderr).toBe(0);
    await waitFor(async () => (await ch.listSas()).length === 0, 5_000, () => `charon's IKE_SA gone\n${diag(d)}`);
    await ch.waitForLog(/received DELETE for IKE_SA/);
    expect((await ours(d)).sas).toEqual([]);

    // Again, and SIGTERM: our daemon deletes its IKE_SA on the way out; charon removes its route.
    await ch.initiate("t");
    await expectTunnel(d, false);
    expect((await ours(d)).drops).toEqual({});
    const mark2 = ch.mark();
    d.child.kill("SIGTERM");
    expect(await d.exited).toBe(0);
    await waitFor(async () => (await ch.listSas()).length === 0, 5_000, () => `charon's IKE_SA gone\n${diag(d)}`);
    await ch.waitForLog(/received DELETE for IKE_SA/, { from: mark2 });
    expect(B.ip("-6", "route", "show", "table", "220")).not.toContain("ipsec0");
    expect(A.exec(["ip", "link", "show", "t6"]).status).not.toBe(0);
  });
  it("IKE_SA rekey by our rekey_time: new IKE SPIs on both sides, the CHILD_SA moves over with its SPIs and counters, ping6 goes on; SIGINT", { timeout: 90_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    await ch.reload(charonConf());
    const d = startDaemon(cli!, A, dir, "a3", ourConf({ start: true, ike: "rekey_time = 6s\n    over_time = 20s\n    rand_time = 0" }));
    procs.push(d);
    const first = await expectTunnel(d, true);
    const ike0 = (await ours(d)).sas[0];

    const { mine, theirs } = await waitFor(
      async () => {
        const s = await daemonStatus(d);
        const l = await ch.listSas();
        return s?.sas.length === 1 && s.sas[0].spiI !== ike0.spiI && l.length === 1 && l[0].initiatorSpi === s.sas[0].spiI ? { mine: s.sas[0], theirs: l[0] } : undefined;
      },
      20_000,
      () => `a new IKE_SA on both sides\n${diag(d)}`,
      100,
    );
    expect(mine.uniqueId).not.toBe(ike0.uniqueId);
    expect(theirs.responderSpi).toBe(mine.spiR);
    expect(mine.state).toBe("ESTABLISHED");
    expect(d.log()).toMatch(new RegExp(`IKE_SA net\\[${ike0.uniqueId}\\] rekeyed: now net\\[${mine.uniqueId}\\] ${mine.spiI}_i ${mine.spiR}_r`));
    // RFC 7296 §2.18: the CHILD_SA is not rekeyed, it moves to the new IKE_SA — and keeps its counters.
    expect(mine.children).toHaveLength(1);
    const moved = mine.children[0];
    expect({ in: moved.in?.spi, out: moved.out?.spi }).toEqual({ in: first.in!.spi, out: first.out!.spi });
    expect(moved.in!.packets).toBeGreaterThanOrEqual(first.in!.packets);
    expect(moved.out!.packets).toBeGreaterThanOrEqual(first.out!.packets);
    expect(moved.installedSecondsAgo).toBeGreaterThanOrEqual(4);
    await pingAndCompare(d);
    expect((await ours(d)).drops).toEqual({});

    d.child.kill("SIGINT");
    expect(await d.exited).toBe(0);
    await waitFor(async () => (await ch.listSas()).length === 0, 5_000, () => `charon's IKE_SA gone\n${diag(d)}`);
  });
});
