// The tunnel daemon end to end: two `ipsec6in4 up` processes in two network namespaces joined
// by a veth, each with a swanctl.conf + tunnels section; IKEv2 between them, TUN devices
// addressed and routed, and the kernel's own `ping -6` from one tunnel address to the other
// through both TUN devices and our ESP (UDP-encapsulated transport mode; raw ESP tunnel mode,
// with a second child brought up by CREATE_CHILD_SA and carrying its own prefixes).
// `status --json` on the control sockets, SIGTERM and `down` (SAs deleted, the peer notices,
// interfaces gone), a TUN device deleted underneath (clean exit, or recreation), and the
// message `up` gives when the native addon cannot be loaded.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NetLab, netnsSkipReason, waitFor, type Netns } from "./helpers/netns.js";
import { daemonCli, daemonStatus, ping6, runCli as runCliWith, startDaemon as startDaemonWith, type DaemonCli, type DaemonProc } from "./helpers/daemon.js";
import { loadAddon } from "../src/node/addon.js";
import { formatStatus } from "../src/cli-daemon.js";
import type { DaemonStatus } from "../src/daemon.js";

const addon = loadAddon();
const skip = netnsSkipReason() ?? (addon.ok ? undefined : addon.reason);

/** How to run the CLI: see test/helpers/daemon.ts. */
let cli: DaemonCli;

beforeAll(async () => {
  cli = await daemonCli();
});

afterAll(() => cli?.dispose());

const runCli = (args: string[], env: NodeJS.ProcessEnv = cli.env) => runCliWith(cli, args, env);

function config(o: { me: string; peer: string; my6: string; peer6: string; start: boolean; encap: boolean; mode: "transport" | "tunnel" }): string {
  const ts = o.mode === "transport" ? ["dynamic[41]", "dynamic[41]"] : [`${o.my6}::/64`, `${o.peer6}::/64`];
  return `
connections {
  net {
    local_addrs = ${o.me}
    remote_addrs = ${o.peer}
    encap = ${o.encap ? "yes" : "no"}
    proposals = aes128gcm16-prfsha256-curve25519
    local { auth = psk
      id = ${o.me} }
    remote { auth = psk
      id = ${o.peer} }
    children {
      v6 {
        mode = ${o.mode}
        local_ts = ${ts[0]}
        remote_ts = ${ts[1]}
        esp_proposals = aes128gcm16
        start_action = ${o.start ? "start" : "none"}
      }${
        o.mode === "tunnel"
          ? `
      v6b {
        mode = tunnel
        local_ts = ${o.my6}:1::/64
        remote_ts = ${o.peer6}:1::/64
        esp_proposals = aes128gcm16-ecp256
        start_action = ${o.start ? "start" : "none"}
      }`
          : ""
      }
    }
  }
}
secrets { ike-net { secret = "daemon test secret" } }
tunnels {
  t6 {
    local = ${o.me}
    remote = ${o.peer}
    address = ${o.my6}::1/64
    routes = ${o.peer6}::/64${o.mode === "tunnel" ? `, ${o.peer6}:1::/64` : ""}
  }
}
`;
}

type Proc = DaemonProc;
const startDaemon = (ns: Netns, dir: string, name: string, conf: string, extra: string[] = []): Proc => startDaemonWith(cli, ns, dir, name, conf, extra);
const status = daemonStatus;

async function established(p: Proc, children = 1): Promise<DaemonStatus> {
  return waitFor(
    async () => {
      const s = await status(p);
      return s && s.sas.length === 1 && s.sas[0].state === "ESTABLISHED" && s.sas[0].children.length === children ? s : undefined;
    },
    15_000,
    () => `an established CHILD_SA; log:\n${p.log()}`,
  );
}

const ping = (ns: Netns, from: string, to: string): Promise<number> => ping6(ns, from, to);

describe("daemon: the addon cannot load", () => {
  it("`up` says exactly what is missing, and exits 1", async () => {
    const r = loadAddon({ env: { IPSEC6IN4_ADDON: "/nonexistent" }, fresh: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe("IPSEC6IN4_ADDON=/nonexistent names /nonexistent, which does not exist");
    const dir = mkdtempSync(join(tmpdir(), "ipsec6in4-daemon-noaddon-"));
    try {
      const file = join(dir, "a.conf");
      writeFileSync(file, config({ me: "203.0.113.1", peer: "203.0.113.2", my6: "2001:db8:a", peer6: "2001:db8:b", start: true, encap: true, mode: "transport" }));
      const res = await runCli(["up", file, "--socket", join(dir, "s.sock")], { ...cli.env, IPSEC6IN4_ADDON: "/nonexistent" });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain("ipsec6in4 up: cannot create the TUN devices of 1 tunnel(s): IPSEC6IN4_ADDON=/nonexistent names /nonexistent, which does not exist");
      expect(existsSync(join(dir, "s.sock"))).toBe(false);
      const usage = await runCli(["up", file, "--raw", "maybe"]);
      expect(usage.status).toBe(2);
      expect(usage.stderr).toContain("--raw must be one of auto, on, off, not 'maybe'");
      // charon's retransmit_* settings: each refused with its range, before anything is created
      for (const [flag, bad, want] of [
        ["--retransmit-timeout", "0", "--retransmit-timeout must be a number from 0.01 to 3600, not '0'"],
        ["--retransmit-timeout", "1s", "--retransmit-timeout must be a number from 0.01 to 3600, not '1s'"],
        ["--retransmit-base", "0.5", "--retransmit-base must be a number from 1 to 10, not '0.5'"],
        ["--retransmit-tries", "1.5", "--retransmit-tries must be an integer from 0 to 100, not '1.5'"],
        ["--retransmit-tries", "101", "--retransmit-tries must be an integer from 0 to 100, not '101'"],
      ]) {
        const r = await runCli(["up", file, "--socket", join(dir, "r.sock"), flag, bad]);
        expect([r.status, r.stderr.includes(want)], r.stderr).toEqual([2, true]);
        expect(existsSync(join(dir, "r.sock"))).toBe(false);
      }
      const nobody = await runCli(["status", "--socket", join(dir, "none.sock")]);
      expect(nobody.status).toBe(1);
      expect(nobody.stderr).toContain("is the daemon running");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skip)("daemon: two namespaces, TUN devices, kernel ping6 over our ESP", () => {
  let lab: NetLab;
  let A: Netns;
  let B: Netns;
  let dir: string;
  const procs: Proc[] = [];

  beforeAll(() => {
    lab = new NetLab();
    A = lab.ns("da");
    B = lab.ns("db");
    lab.veth(A, B, { nameA: "eth0", nameB: "eth0", addrA: ["203.0.113.1/24"], addrB: ["203.0.113.2/24"] });
    dir = lab.tempDir("daemon");
  });
  afterAll(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    lab?.cleanup();
  });
  // A test that failed half-way must not leave its daemons holding the namespaces' ports.
  beforeEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill("SIGKILL");
        await p.exited.catch(() => undefined);
      }
    }
  });

  const confA = (mode: "transport" | "tunnel", encap: boolean) =>
    config({ me: "203.0.113.1", peer: "203.0.113.2", my6: "2001:db8:a", peer6: "2001:db8:b", start: true, encap, mode });
  const confB = (mode: "transport" | "tunnel", encap: boolean) =>
    config({ me: "203.0.113.2", peer: "203.0.113.1", my6: "2001:db8:b", peer6: "2001:db8:a", start: false, encap, mode });

  it("transport mode in UDP: ping6 both ways, status --json, SIGTERM deletes the SAs, a TUN deleted underneath stops the peer cleanly", async () => {
    const b = startDaemon(B, dir, "b1", confB("transport", true));
    procs.push(b);
    await waitFor(() => status(b), 10_000, () => `B's control socket; log:\n${b.log()}`);
    const a = startDaemon(A, dir, "a1", confA("transport", true));
    procs.push(a);
    await established(a);
    await established(b);

    expect(await ping(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);
    expect(await ping(B, "2001:db8:b::1", "2001:db8:a::1")).toBeGreaterThanOrEqual(2);

    // The CLI against each control socket.
    const ja = await runCli(["status", "--json", "--socket", a.socket]);
    const jb = await runCli(["status", "--json", "--socket", b.socket]);
    expect(ja.status, ja.stderr).toBe(0);
    const sa = JSON.parse(ja.stdout) as DaemonStatus;
    const sb = JSON.parse(jb.stdout) as DaemonStatus;
    for (const s of [sa, sb]) {
      expect(s.sas).toHaveLength(1);
      expect(s.sas[0]).toMatchObject({ connection: "net", state: "ESTABLISHED", version: 2, natt: true, algorithm: "AES_GCM_16/PRF_HMAC_SHA2_256/CURVE_25519" }); // as swanctl --list-sas
      const c = s.sas[0].children[0];
      expect(c).toMatchObject({ name: "v6", state: "INSTALLED", mode: "TRANSPORT", protocol: "ESP", encap: true, algorithm: "AES_GCM_16-128", tunnel: "t6" });
      expect(c.in!.packets).toBeGreaterThanOrEqual(4);
      expect(c.out!.packets).toBeGreaterThanOrEqual(4);
      expect(c.out!.sequence).toBe(c.out!.packets);
      expect(c.rekeyInSeconds).toBeGreaterThan(3000);
      expect(c.expiresInSeconds).toBeGreaterThan(c.rekeyInSeconds!);
      expect(s.tunnels).toMatchObject([{ name: "t6", ifname: "t6", up: true, policy: "PROTECT", mtu: 1280 }]);
      expect(s.tunnels[0].tun!.rxPackets).toBeGreaterThanOrEqual(4);
      expect(s.addon.loaded).toBe(true);
      expect(s.drops).toBeTypeOf("object");
    }
    const ca = sa.sas[0].children[0];
    const cb = sb.sas[0].children[0];
    expect(ca.in!.spi).toBe(cb.out!.spi);
    expect(ca.out!.spi).toBe(cb.in!.spi);
    expect(ca.localTs).toBe("203.0.113.1/32[41]");
    expect(ca.remoteTs).toBe("203.0.113.2/32[41]");
    expect(sa.sas[0].initiator).toBe(true);
    expect(sb.sas[0].initiator).toBe(false);
    expect(sa.sas[0].spiI).toBe(sb.sas[0].spiI);
    const text = await runCli(["status", "--socket", a.socket]);
    expect(text.stdout).toContain(`net: #1, ESTABLISHED, IKEv2, ${sa.sas[0].spiI}_i* ${sa.sas[0].spiR}_r`);
    expect(text.stdout).toContain("v6: #1, INSTALLED, TRANSPORT-in-UDP, ESP:AES_GCM_16-128");
    expect(text.stdout).toContain(`in  ${ca.in!.spi},`);
    // The text is the JSON formatted (ages in seconds may tick between the two calls).
    const ages = (t: string) => t.replace(/\d+(ms|s)\b/g, "N$1");
    expect(ages(text.stdout)).toBe(ages(formatStatus(JSON.parse((await runCli(["status", "--json", "--socket", a.socket])).stdout))));
    expect(A.ip("-6", "route", "show", "2001:db8:b::/64")).toContain("dev t6");

    // SIGTERM: A deletes its IKE_SA (B notices), removes its interface, exits 0.
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(a.log()).toMatch(/\d\d\[DMN0\] shutting down: received SIGTERM/);
    expect(a.log()).toContain("[KNL1] removed TUN device t6");
    expect(A.exec(["ip", "link", "show", "t6"]).status).not.toBe(0);
    expect(existsSync(a.socket)).toBe(false);
    await waitFor(async () => (await status(b))?.sas.length === 0, 5000, () => `B noticing; log:\n${b.log()}`);
    expect(b.log()).toContain("IKE_SA net[1] deleted by peer");

    // The TUN device deleted underneath: B says so and stops cleanly (no hang).
    const t0 = Date.now();
    B.ip("link", "del", "t6");
    expect(await b.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(b.log()).toContain("[KNL0] TUN device t6: the device was removed underneath (ip link del?) [read: EBADFD]");
    expect(b.log()).toContain("[DMN0] shutting down: tunnel t6 lost its TUN device t6\n");
    expect(existsSync(b.socket)).toBe(false);
    // Keys never reach the log.
    expect(a.log() + b.log()).not.toMatch(/daemon test secret|=>|[0-9a-f]{40}/i);
  });

  it("tunnel mode with raw ESP and two children (the second by CREATE_CHILD_SA, with PFS): ping6 through each, a TUN deleted underneath is recreated, `down` stops both", async () => {
    const b = startDaemon(B, dir, "b2", confB("tunnel", false), ["--on-tun-loss", "recreate"]);
    procs.push(b);
    await waitFor(() => status(b), 10_000, () => `B's control socket; log:\n${b.log()}`);
    const a = startDaemon(A, dir, "a2", confA("tunnel", false));
    procs.push(a);
    await established(a, 2);
    expect(await ping(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);
    // The second child's prefixes, on lo: its packets leave with its own CHILD_SA.
    A.ip("-6", "addr", "add", "2001:db8:a:1::1/128", "dev", "lo");
    B.ip("-6", "addr", "add", "2001:db8:b:1::1/128", "dev", "lo");
    expect(await ping(A, "2001:db8:a:1::1", "2001:db8:b:1::1")).toBeGreaterThanOrEqual(2);
    const s = (await status(a))!;
    const c = s.sas[0].children.find((x) => x.name === "v6")!;
    const c2 = s.sas[0].children.find((x) => x.name === "v6b")!;
    expect(c2).toMatchObject({ algorithm: "AES_GCM_16-128/ECP_256", localTs: "2001:db8:a:1::/64", remoteTs: "2001:db8:b:1::/64" });
    expect(c2.out!.packets).toBeGreaterThanOrEqual(2);
    expect(c2.in!.packets).toBeGreaterThanOrEqual(2);
    expect(s.sas[0].natt).toBe(false);
    expect(s.sas[0].local).toBe("203.0.113.1[500]");
    expect(c).toMatchObject({ mode: "TUNNEL", encap: false, localTs: "2001:db8:a::/64", remoteTs: "2001:db8:b::/64" });
    expect(s.raw.esp).toBe(true);
    expect(s.raw.txPackets).toBeGreaterThanOrEqual(2);
    expect(s.udp.espOut).toBe(0);

    B.ip("link", "del", "t6");
    await waitFor(() => /recreating TUN device t6/.test(b.log()) && B.exec(["ip", "link", "show", "t6"]).status === 0, 5000, () => `t6 back in B; log:\n${b.log()}`);
    await waitFor(async () => (await status(b))?.tunnels[0].up, 5000, () => "t6 up");
    expect(await ping(A, "2001:db8:a::1", "2001:db8:b::1")).toBeGreaterThanOrEqual(2);

    const d = await runCli(["down", "--socket", a.socket]);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toContain("daemon stopped");
    expect(await a.exited).toBe(0);
    await waitFor(async () => (await status(b))?.sas.length === 0, 5000, () => `B noticing; log:\n${b.log()}`);
    expect((await runCli(["down", "--socket", b.socket])).status).toBe(0);
    expect(await b.exited).toBe(0);
    expect(B.exec(["ip", "link", "show", "t6"]).status).not.toBe(0);
  });
});
