// A peer daemon killed with SIGKILL and started again (issue 7, item 6): two `ipsec6in4 up`
// processes in two namespaces, kernel ping -6 between their TUN devices over transport-mode ESP
// in UDP. Liveness checks every second (dpd_delay = 1s) with short retransmissions
// (--retransmit-timeout 0.5 --retransmit-base 1.4 --retransmit-tries 2: a peer is dead about
// 2.2 s after a check goes unanswered); the initiator has dpd_action = restart and
// keyingtries = 0, the responder dpd_action = clear (strongSwan's usual pairing).
//
//   - the responder killed and started again: the initiator's liveness check goes unanswered,
//     the IKE_SA is declared dead and initiated again until the new responder answers;
//   - the initiator killed and started again at once: its new IKE_SA carries INITIAL_CONTACT
//     and the responder drops the old one (RFC 7296 §2.4);
//   - the initiator killed and away longer: the responder's liveness check declares it dead and
//     clears (no restart from the responder), and takes the new IKE_SA when it comes back.
//
// Each time, nobody acts by hand: the survivor's status shows new SPIs (IKE and ESP) and none of
// the old ones, and ping6 goes through again both ways. The recovery times are printed (not
// asserted: the machine is shared and slow).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NetLab, netnsSkipReason, waitFor, type Netns } from "./helpers/netns.js";
import { loadAddon } from "../src/node/addon.js";
import type { DaemonStatus } from "../src/daemon.js";
import { daemonCli, killDaemon, ping6, startDaemon, statusWhen, type DaemonCli, type DaemonProc } from "./helpers/daemon.js";

const addon = loadAddon();
const skip = netnsSkipReason() ?? (addon.ok ? undefined : addon.reason);

const IP_A = "203.0.113.1";
const IP_B = "203.0.113.2";
const RETRANSMIT = ["--retransmit-timeout", "0.5", "--retransmit-base", "1.4", "--retransmit-tries", "2"];

function config(o: { me: string; peer: string; my6: string; peer6: string; initiator: boolean }): string {
  return `
connections {
  net {
    local_addrs = ${o.me}
    remote_addrs = ${o.peer}
    encap = yes
    proposals = aes128gcm16-prfsha256-curve25519
    dpd_delay = 1s
    keyingtries = ${o.initiator ? 0 : 1}
    local { auth = psk
      id = ${o.me} }
    remote { auth = psk
      id = ${o.peer} }
    children {
      v6 {
        mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = aes128gcm16
        start_action = ${o.initiator ? "start" : "none"}
        dpd_action = ${o.initiator ? "restart" : "clear"}
      }
    }
  }
}
secrets { ike-net { secret = "restart test secret" } }
tunnels {
  t6 {
    local = ${o.me}
    remote = ${o.peer}
    address = ${o.my6}::1/64
    routes = ${o.peer6}::/64
  }
}
`;
}

const CONF_A = config({ me: IP_A, peer: IP_B, my6: "2001:db8:a", peer6: "2001:db8:b", initiator: true });
const CONF_B = config({ me: IP_B, peer: IP_A, my6: "2001:db8:b", peer6: "2001:db8:a", initiator: false });

/** The SPIs a status shows: IKE (SPIi_SPIr) and ESP (in/out), to compare before and after. */
function spis(s: DaemonStatus): { ike: string[]; esp: string[] } {
  return {
    ike: s.sas.map((x) => `${x.spiI}_${x.spiR}`),
    esp: s.sas.flatMap((x) => x.children.flatMap((c) => [c.in!.spi, c.out!.spi])),
  };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const oneChild = (s: DaemonStatus) => s.sas.length === 1 && s.sas[0].state === "ESTABLISHED" && s.sas[0].children.length === 1;

describe.skipIf(skip)("daemon: a peer killed (SIGKILL) and started again, the tunnel comes back by itself", () => {
  let cli: DaemonCli;
  let lab: NetLab;
  let A: Netns;
  let B: Netns;
  let dir: string;
  const procs: DaemonProc[] = [];
  const recovery: string[] = [];

  beforeAll(async () => {
    cli = await daemonCli();
    lab = new NetLab();
    A = lab.ns("ra");
    B = lab.ns("rb");
    lab.veth(A, B, { nameA: "eth0", nameB: "eth0", addrA: [`${IP_A}/24`], addrB: [`${IP_B}/24`] });
    dir = lab.tempDir("daemon-restart");
  });
  afterAll(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    lab?.cleanup();
    cli?.dispose();
    if (recovery.length) console.log(`recovery times (until the first ping6 through the new SAs is answered):\n  ${recovery.join("\n  ")}`);
  });
  beforeEach(async () => {
    for (const p of procs.splice(0)) await killDaemon(p);
  });

  const start = (ns: Netns, name: string, conf: string) => {
    const p = startDaemon(cli, ns, dir, name, conf, RETRANSMIT);
    procs.push(p);
    return p;
  };

  /** Both daemons up, one IKE_SA with one CHILD_SA, ping6 through both ways. */
  async function tunnelUp(tag: string): Promise<{ a: DaemonProc; b: DaemonProc; sa: DaemonStatus; sb: DaemonStatus }> {
    const b = start(B, `b-${tag}`, CONF_B);
    await waitFor(
      () => {
        if (b.child.exitCode !== null) throw new Error(`B exited with ${b.child.exitCode}; log:\n${b.log()}`);
        return /ipsec6in4 up: 1 tunnel interface/.test(b.log());
      },
      15_000,
      () => `B up; log:\n${b.log()}`,
    );
    const a = start(A, `a-${tag}`, CONF_A);
    const sa = await statusWhen(a, oneChild, 20_000, "A: an established CHILD_SA");
    const sb = await statusWhen(b, oneChild, 20_000, "B: an established CHILD_SA");
    expect(await ping6(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);
    expect(await ping6(B, "2001:db8:b::1", "2001:db8:a::1")).toBeGreaterThanOrEqual(2);
    return { a, b, sa, sb };
  }

  /** SIGKILL: the process goes at once; its TUN device goes with its file descriptor. */
  async function kill(p: DaemonProc, ns: Netns): Promise<number> {
    const t = performance.now();
    p.child.kill("SIGKILL");
    await p.exited;
    expect(p.child.signalCode).toBe("SIGKILL");
    expect(p.log()).not.toContain("shutting down"); // no clean-up ran: the peer was told nothing
    await waitFor(() => ns.exec(["ip", "link", "show", "t6"]).status !== 0, 5000, () => "the killed daemon's TUN device t6 to vanish");
    return t;
  }

  /** Ping from `ns` until one answer comes; the time it came. */
  async function pingUntilAnswered(ns: Netns, from: string, to: string, timeoutMs: number): Promise<number> {
    await waitFor(async () => (await ping6(ns, from, to, 1)) === 1, timeoutMs, () => `ping6 ${from} → ${to} answered`, 100);
    return performance.now();
  }

  /** The survivor holds exactly one IKE_SA with one CHILD_SA, none of whose SPIs it had before. */
  function expectAllNew(before: DaemonStatus, after: DaemonStatus): void {
    const old = spis(before);
    const now = spis(after);
    expect(now.ike).toHaveLength(1);
    expect(now.esp).toHaveLength(2);
    expect(old.ike).toHaveLength(1);
    for (const x of now.ike) expect(old.ike).not.toContain(x);
    for (const x of now.esp) expect(old.esp).not.toContain(x);
    expect(after.sas[0].uniqueId).toBeGreaterThan(before.sas[0].uniqueId);
  }

  /** The two ends agree: same IKE SPIs, each one's inbound ESP SPI is the other's outbound. */
  function expectPaired(x: DaemonStatus, y: DaemonStatus): void {
    expect(x.sas[0].spiI).toBe(y.sas[0].spiI);
    expect(x.sas[0].spiR).toBe(y.sas[0].spiR);
    expect(x.sas[0].children[0].in!.spi).toBe(y.sas[0].children[0].out!.spi);
    expect(x.sas[0].children[0].out!.spi).toBe(y.sas[0].children[0].in!.spi);
  }

  it("the responder is killed and started again: the initiator's liveness check finds it dead, and it initiates again", { timeout: 120_000 }, async () => {
    const { a, b, sa: before } = await tunnelUp("1");
    const oldId = before.sas[0].uniqueId;
    const t0 = await kill(b, B);
    const tStart = performance.now();
    const b2 = start(B, "b-1", CONF_B); // same configuration, same control socket path
    const tAns = await pingUntilAnswered(A, "2001:db8:a::1", "2001:db8:b::1", 60_000);
    recovery.push(`responder killed, restarted at once: ${secs(tAns - t0)} after the kill (${secs(tAns - tStart)} after the restart)`);

    const after = await statusWhen(a, oneChild, 10_000, "A: one established CHILD_SA");
    expectAllNew(before, after);
    expect(after.sas[0].initiator).toBe(true);
    const fresh = await statusWhen(b2, oneChild, 10_000, "B: one established CHILD_SA");
    expectPaired(after, fresh);
    expect(await ping6(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);
    expect(await ping6(B, "2001:db8:b::1", "2001:db8:a::1")).toBeGreaterThanOrEqual(2);
    // What the survivor did, from its log: a check, unanswered, the IKE_SA declared dead, restarted.
    const log = a.log();
    expect(log).toMatch(new RegExp(`\\[IKE1\\] sending DPD request: nothing from 203\\.0\\.113\\.2 on IKE_SA net\\[${oldId}\\] for \\d+\\.\\ds`));
    expect(log).toMatch(new RegExp(`\\[IKE0\\] IKE_SA net\\[${oldId}\\] failed: no reply to message \\d+ after 2 retransmits: peer is gone`));
    expect(log).toMatch(new RegExp(`\\[IKE0\\] IKE_SA net\\[${oldId}\\] down: no reply to message \\d+ after 2 retransmits: peer is gone\\n.*\\[IKE0\\] restarting connection net \\(dpd_action = restart\\)`));
    expect(log).toContain(`[CHD1] CHILD_SA v6{${oldId}} with SPIs ${before.sas[0].children[0].in!.spi}_i ${before.sas[0].children[0].out!.spi}_o removed: no reply to message`);
    expect(b2.log()).not.toContain("INITIAL_CONTACT from"); // B had nothing to replace
  });

  it("the initiator is killed and started again at once: its INITIAL_CONTACT makes the responder drop the old IKE_SA", { timeout: 120_000 }, async () => {
    const { a, b, sb: before } = await tunnelUp("2");
    const oldId = before.sas[0].uniqueId;
    const t0 = await kill(a, A);
    const tStart = performance.now();
    const a2 = start(A, "a-2", CONF_A);
    const tAns = await pingUntilAnswered(B, "2001:db8:b::1", "2001:db8:a::1", 60_000);
    recovery.push(`initiator killed, restarted at once: ${secs(tAns - t0)} after the kill (${secs(tAns - tStart)} after the restart)`);

    const after = await statusWhen(b, oneChild, 10_000, "B: one established CHILD_SA");
    expectAllNew(before, after);
    expect(after.sas[0].initiator).toBe(false);
    expectPaired(after, await statusWhen(a2, oneChild, 10_000, "A: one established CHILD_SA"));
    expect(await ping6(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);
    expect(b.log()).toContain(`INITIAL_CONTACT from 203.0.113.1: deleting IKE_SA net[${oldId}] without notice`);
    expect(b.log()).toContain(`[IKE0] IKE_SA net[${oldId}] down: replaced (INITIAL_CONTACT)`);
    expect(b.log()).not.toContain("restarting connection");
  });

  it("the initiator is killed and away for a while: the responder declares it dead and clears; it takes the new IKE_SA later", { timeout: 120_000 }, async () => {
    const { a, b, sb: before } = await tunnelUp("3");
    const oldId = before.sas[0].uniqueId;
    const t0 = await kill(a, A);
    // dpd_delay 1 s, then 0.5 + 0.7 + 0.98 s of retransmissions: B is empty within a few seconds.
    await statusWhen(b, (s) => s.sas.length === 0, 30_000, "B: the dead peer's IKE_SA cleared");
    const tCleared = performance.now();
    expect(b.log()).toMatch(new RegExp(`\\[IKE0\\] IKE_SA net\\[${oldId}\\] down: no reply to message \\d+ after 2 retransmits: peer is gone`));
    expect(b.log()).not.toContain("restarting connection"); // dpd_action = clear
    const tStart = performance.now();
    const a2 = start(A, "a-3", CONF_A);
    const tAns = await pingUntilAnswered(B, "2001:db8:b::1", "2001:db8:a::1", 60_000);
    recovery.push(`initiator killed, restarted once the responder had cleared it (${secs(tCleared - t0)} after the kill): ${secs(tAns - tStart)} after the restart`);
    const after = await statusWhen(b, oneChild, 10_000, "B: one established CHILD_SA");
    expectAllNew(before, after);
    expectPaired(after, await statusWhen(a2, oneChild, 10_000, "A: one established CHILD_SA"));
    expect(await ping6(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);
  });

  it("a TUN device removed underneath while the tunnel carries traffic: a clear error, the peer told, exit 1 (no hang)", { timeout: 60_000 }, async () => {
    const { a, b } = await tunnelUp("4");
    const pinging = ping6(A, "2001:db8:a::1", "2001:db8:b::1", 10);
    B.ip("link", "del", "t6");
    // Bounded: the Delete to the peer waits at most 2 s for its answer.
    const code = await Promise.race([b.exited, new Promise<string>((r) => setTimeout(() => r("still running after 15 s"), 15_000))]);
    expect(code).toBe(1);
    await pinging;
    const log = b.log();
    expect(log).toContain("[KNL0] TUN device t6: the device was removed underneath (ip link del?) [read: EBADFD]\n");
    expect(log).toContain("[DMN0] shutting down: tunnel t6 lost its TUN device t6\n");
    expect(log).toContain("[IKE0] deleting 1 IKE_SA(s)\n");
    expect(log).toMatch(/\[DMN0\] ipsec6in4 stopped\n$/);
    // The peer was told (a Delete, not a dead peer): A clears, and with close_action = none does not restart.
    await statusWhen(a, (s) => s.sas.length === 0, 10_000, "A: the IKE_SA deleted by B");
    expect(a.log()).toMatch(/\[IKE0\] IKE_SA net\[\d+\] deleted by peer\n/);
    expect(a.log()).not.toContain("restarting connection");
  });
});
