// The command line as users meet it: exit statuses, named errors on bad arguments, the demo
// (npm start), and `config` on good and bad configurations. Runs the built dist/cli.js.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const cli = new URL("../dist/cli.js", import.meta.url).pathname;
const fixture = (f: string) => new URL(`./fixtures/config/${f}`, import.meta.url).pathname;
const run = (...args: string[]) => {
  const r = spawnSync("node", [cli, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe("ipsec6in4 CLI", () => {
  it("help, version, and unknown commands", () => {
    expect(run("help").out).toMatch(/^usage: ipsec6in4 <command>/);
    expect(run("version").out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = run("frobnicate");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown command 'frobnicate'");
  });

  it("demo (npm start): two routers on loopback, IKEv2, traffic both ways, attacks refused, rekey without loss", () => {
    const r = run("demo", "--packets", "200");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("1. IKEv2: IKE_SA_INIT + IKE_AUTH");
    expect(r.out).toMatch(/CHILD_SA v6in4: transport mode, ENCR_AES_GCM_16\/128/);
    expect(r.out).toContain("2. Traffic: 200 ICMPv6 echo requests A→B (IMIX sizes), 200 delivered at B, 200 echo replies back at A");
    expect(r.out).toContain("dropped: spoofed-outer-source (1)");
    expect(r.out).toContain("dropped: inner-loopback (1)");
    expect(r.out).toContain("dropped: ingress-prefix (1)");
    expect(r.out).toMatch(/delivered, 0 lost/);
    expect(r.out).toMatch(/demo OK\n$/);
    expect(run("demo", "--packets", "5").code).toBe(2);
  });

  it("aead-demo seals and opens a batch and refuses the forgery", () => {
    const r = run("aead-demo", "--packets", "4");
    expect(r.code).toBe(0);
    expect(r.out).toContain("sealed 4/4 packets in one call");
    expect(r.out).toContain("4/4 inner IPv6 packets intact");
    expect(r.out).toContain("refused, ERR_AUTH");
    expect(r.out).toMatch(/demo OK\n$/);
    const u = run("aead-demo", "--packets", "0");
    expect([u.code, u.err]).toEqual([2, "ipsec6in4: ERR_USAGE: --packets takes an integer from 1 to 4096\n"]);
    expect(run("aead-demo", "--fast").err).toContain("unknown option '--fast'");
  });

  it("config prints tunnels, the SPD as RFC 4891 prints it, and the PAD", () => {
    const r = run("config", fixture("rfc4891-5.1-router1.conf"));
    expect(r.code).toBe(0);
    expect(r.out).toContain("policy PROTECT (connection router2)");
    expect(r.out).toContain("3     192.0.2.1  192.0.2.2  41        PROTECT(ESP,transport)");
    const j = JSON.parse(run("config", fixture("rfc4891-a2-host1.json"), "--json").out);
    expect(j.tunnels[0]).toMatchObject({ local: "192.0.2.1", remote: "192.0.2.2", policy: "protect" });
  });

  it("config refuses an invalid file naming file, line, key and reason, with status 1", () => {
    const r = run("config", fixture("bad/psk-no-secret.conf"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/psk-no-secret\.conf:6:13: connections\.gw\.local\.auth: psk authentication, but no secrets/);
    expect(run("config", "/nonexistent.conf").code).toBe(1);
    expect(run("config").code).toBe(2);
    expect(run("config", "a", "b").err).toContain("one configuration file at a time");
  });
});
