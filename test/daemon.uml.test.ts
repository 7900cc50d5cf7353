// RFC 4891 §5.1 against the Linux kernel: our daemon (`ipsec6in4 up`) on a bridge in place of
// one of two User-Mode-Linux guests that run strongSwan's charon with the guest kernel's own
// XFRM (esp4, rfc4106(gcm(aes))) and a sit tunnel. Transport mode, traffic selectors for
// protocol 41 between the two IPv4 endpoints, IKEv2 with PSK.
//
//   namespace "br": bridge br0 ── TAP ── UML guest eth0 203.0.113.2, sit1 2001:db8:b::1/64
//                        └──── veth ─── namespace "us": eth0 203.0.113.1, our daemon, TUN t6 2001:db8:a::1/64
//
// The matrix: raw ESP (encap = no on both sides) and forced UDP encapsulation (the guest's
// charon has encap = yes, so it fakes NAT detection and both sides float to 4500; our side
// needs nothing for that: it follows the NAT-D payloads), without and with ESN, our endpoint
// initiating and responding; plus two cases where our side forces UDP (our encap = yes). In
// every case: ping6 both ways between the inner addresses (the guest's sit tunnel and our
// TUN); what the guest kernel installed (`ip xfrm state/policy`: transport mode, proto 41
// selectors, ESN flag, espinudp encap, SPIs, packet counts) agrees with our `status`; a
// capture on the bridge shows only ESP (raw or in UDP 4500) between the endpoints, as many as
// both sides counted; SIGTERM deletes the SAs in the guest. When the guest initiates, its sit
// tunnel first sends 6in4 in the clear (no SA yet), and we drop every such packet. Three cases
// go on with a CHILD_SA rekey by each side and ping6 on the new SAs.
//
// One guest boot serves all cases (swanctl --load-all replaces the connection between cases;
// our daemon is started afresh for each and stopped with SIGTERM). `npm test` runs six of the
// ten cases (see ALL); `npm run interop` (UML_INTEROP=full) runs all ten.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetLab, netnsSkipReason, waitFor, type Netns } from "./helpers/netns.js";
import { ensureDebian } from "./helpers/apt.js";
import { ensureUml, moduleLoadOrder, UmlGuest, XFRM_MODULES } from "./helpers/uml.js";
import { readPcap } from "./helpers/pcap.js";
import { loadAddon } from "../src/node/addon.js";
import { daemonStatus, killDaemon, startDaemon as startDaemonWith, type DaemonCli, type DaemonProc } from "./helpers/daemon.js";
import type { ChildStatus, DaemonStatus } from "../src/daemon.js";

const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
const CLI = join(REPO, "dist/cli.js");
const addon = loadAddon();
const skip = netnsSkipReason() ?? (addon.ok ? undefined : addon.reason) ?? ensureUml() ?? ensureDebian("/usr/bin/tcpdump", ["tcpdump"]);

const US = "203.0.113.1";
const GUEST = "203.0.113.2";
const US6 = "2001:db8:a::1";
const GUEST6 = "2001:db8:b::1";
const PSK = "uml interop secret";

interface Case {
  /** UDP encapsulation: none (raw ESP), or forced by `encap = yes` on the guest's or on our side */
  udp: "no" | "guest" | "ours";
  esn: boolean;
  weInitiate: boolean;
  /** then a CHILD_SA rekey by each side */
  rekey?: boolean;
}
// The whole matrix; `ci` marks the slice `npm test` runs (every value of every axis, each
// encapsulation with each initiator, a rekey by each side with raw ESP and with UDP, ESN and
// not); UML_INTEROP=full (`npm run interop`) runs all ten.
const ALL: (Case & { ci?: true })[] = [
  { udp: "no", esn: false, weInitiate: true, rekey: true, ci: true },
  { udp: "no", esn: false, weInitiate: false },
  { udp: "no", esn: true, weInitiate: true },
  { udp: "no", esn: true, weInitiate: false, rekey: true, ci: true },
  { udp: "guest", esn: false, weInitiate: true },
  { udp: "guest", esn: false, weInitiate: false, ci: true },
  { udp: "guest", esn: true, weInitiate: true, rekey: true, ci: true },
  { udp: "guest", esn: true, weInitiate: false },
  // Our own `encap = yes` (a NAT-D source hash that cannot match, as charon does).
  { udp: "ours", esn: true, weInitiate: true, ci: true },
  { udp: "ours", esn: false, weInitiate: false, ci: true },
];
const full = process.env.UML_INTEROP === "full";
const CASES = full ? ALL : ALL.filter((c) => c.ci);
const label = (c: Case) =>
  `${c.udp === "no" ? "raw ESP" : `UDP-encapsulated (forced by ${c.udp === "guest" ? "the guest" : "us"})`}, ${c.esn ? "ESN" : "no ESN"}, ${c.weInitiate ? "we initiate" : "the guest initiates"}${c.rekey ? ", then each side rekeys" : ""}`;

function ourConfig(c: Case): string {
  return `
connections {
  net {
    local_addrs = ${US}
    remote_addrs = ${GUEST}
    encap = ${c.udp === "ours" ? "yes" : "no"}
    mobike = no
    proposals = aes128gcm16-prfsha256-ecp256
    local { auth = psk
      id = ${US} }
    remote { auth = psk
      id = ${GUEST} }
    children {
      v6 {
        mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = ${c.esn ? "aes128gcm16-esn" : "aes128gcm16"}
        start_action = ${c.weInitiate ? "start" : "none"}${c.rekey ? "\n        rekey_packets = 20\n        rand_packets = 0\n        life_packets = 100000" : ""}
      }
    }
  }
}
secrets { ike-net { secret = "${PSK}" } }
tunnels {
  t6 {
    local = ${US}
    remote = ${GUEST}
    address = ${US6}/64
    routes = 2001:db8:b::/64
  }
}
`;
}

function guestConfig(c: Case): string {
  return `connections {
  uml {
    local_addrs = ${GUEST}
    remote_addrs = ${US}
    proposals = aes128gcm16-prfsha256-ecp256
    mobike = no
    encap = ${c.udp === "guest" ? "yes" : "no"}
    local {
      auth = psk
      id = ${GUEST}
    }
    remote {
      auth = psk
      id = ${US}
    }
    children {
      s {
        mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = ${c.esn ? "aes128gcm16-esn" : "aes128gcm16"}
      }
    }
  }
}
secrets {
  ike-uml {
    id-a = ${GUEST}
    id-b = ${US}
    secret = "${PSK}"
  }
}
`;
}

/** `ipsec6in4 up` of the built package (dist/cli.js), as the README runs it. */
const cli: DaemonCli = { argv: ["node", CLI], env: process.env, dispose: () => undefined };
type Daemon = DaemonProc;
const startDaemon = (ns: Netns, dir: string, name: string, conf: string): Daemon => startDaemonWith(cli, ns, dir, name, conf);
const status = (d: Daemon): Promise<DaemonStatus | undefined> => daemonStatus(d, 3000);

async function ping(ns: Netns, from: string, to: string): Promise<number> {
  const r = await ns.execAsync(["ping", "-6", "-n", "-c", "3", "-i", "0.3", "-W", "3", "-I", from, to], { timeout: 30_000 });
  const m = /(\d+) received/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/** One `ip -s xfrm state` entry of the guest. */
interface XfrmState {
  src: string;
  dst: string;
  spi: string;
  mode: string;
  esn: boolean;
  encap?: string;
  aead?: string;
  packets: number;
}

function parseXfrmStates(text: string): XfrmState[] {
  return text
    .split(/^(?=src )/m)
    .filter((b) => b.startsWith("src "))
    .map((b) => {
      const head = /^src (\S+) dst (\S+)/.exec(b)!;
      return {
        src: head[1],
        dst: head[2],
        spi: /proto esp spi 0x([0-9a-f]{8})/.exec(b)?.[1] ?? "",
        mode: /mode (\w+)/.exec(b)?.[1] ?? "",
        esn: /flag [^\n]*\besn\b/.test(b),
        encap: /encap type (\S+ sport \d+ dport \d+)/.exec(b)?.[1],
        aead: /aead (\S+) 0x[0-9a-f]+ \((\d+) bits\) (\d+)/.exec(b)?.slice(1).join(" ").replace(/^(\S+) (\d+) (\d+)$/, "$1 $2-bit key+salt, $3-bit ICV"),
        packets: Number(/lifetime current:\s+\d+\(bytes\), (\d+)\(packets\)/.exec(b)?.[1] ?? NaN),
      };
    });
}

/** Our CHILD_SA once its inbound SPI is no longer `oldSpi` (a rekey replaced it). */
async function rekeyed(d: Daemon, oldSpi: string, what: string): Promise<ChildStatus> {
  return waitFor(
    async () => {
      const c = (await status(d))?.sas[0]?.children;
      return c?.length === 1 && c[0].in && c[0].in.spi !== oldSpi ? c[0] : undefined;
    },
    30_000,
    () => `${what}: our CHILD_SA with a new inbound SPI (old ${oldSpi}); log:\n${d.log()}`,
  );
}

async function pingBothWays(guest: UmlGuest, U: Netns, d: Daemon): Promise<void> {
  const g = await guest.sh(`ping -6 -n -c 3 -i 0.3 -W 3 -I ${GUEST6} ${US6} || true`, 60_000);
  expect(Number(/(\d+) received/.exec(g.out)?.[1] ?? 0), g.out + d.log()).toBeGreaterThanOrEqual(2);
  expect(await ping(U, US6, GUEST6), d.log()).toBeGreaterThanOrEqual(2);
}

/** The guest kernel holds the SAs of our CHILD_SA `c` (its outbound = our inbound), and has counted traffic on both. */
async function expectGuestSpis(guest: UmlGuest, c: ChildStatus): Promise<void> {
  const states = parseXfrmStates((await guestXfrm(guest)).states);
  const gOut = states.find((x) => x.src === GUEST && x.spi === c.in!.spi);
  const gIn = states.find((x) => x.src === US && x.spi === c.out!.spi);
  expect(gOut, JSON.stringify(states)).toBeDefined();
  expect(gIn, JSON.stringify(states)).toBeDefined();
  expect(gOut!.packets).toBeGreaterThanOrEqual(4);
  expect(gIn!.packets).toBeGreaterThanOrEqual(4);
}

/** The guest's SAs and SA policies (`ip xfrm state`, `ip xfrm policy` without charon's per-socket bypass policies). */
async function guestXfrm(guest: UmlGuest): Promise<{ states: string; policies: string }> {
  const [states, all] = (await guest.run("ip -s xfrm state; echo '--8<--'; ip xfrm policy")).split("--8<--\n");
  const policies = all
    .split(/^(?=src )/m)
    .filter((p) => !/^\tsocket (in|out) /m.test(p))
    .join("");
  return { states, policies };
}

/** What crossed the bridge between the two IPv4 endpoints, by kind. */
function classify(pcap: Uint8Array): Record<string, number> {
  const counts: Record<string, number> = {};
  const add = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
  const { linktype, packets } = readPcap(pcap);
  expect(linktype).toBe(1); // Ethernet
  for (const p of packets) {
    if (p.length < 34 || p[12] !== 0x08 || p[13] !== 0x00) continue; // IPv4 only (ARP, IPv6 ND of the links are not ours)
    const ip = p.subarray(14);
    const src = ip.subarray(12, 16).join(".");
    const dst = ip.subarray(16, 20).join(".");
    const dir = src === US && dst === GUEST ? "us>guest" : src === GUEST && dst === US ? "guest>us" : "other";
    const proto = ip[9];
    const ihl = (ip[0] & 15) * 4;
    if (proto === 50) add(`${dir} esp`);
    else if (proto === 41) add(`${dir} clear-6in4`);
    else if (proto === 17) {
      const sport = (ip[ihl] << 8) | ip[ihl + 1];
      const dport = (ip[ihl + 2] << 8) | ip[ihl + 3];
      const payload = ip.subarray(ihl + 8);
      if (sport === 4500 && dport === 4500) {
        if (payload.length === 1 && payload[0] === 0xff) add(`${dir} nat-keepalive`);
        else if (payload.length >= 4 && payload[0] === 0 && payload[1] === 0 && payload[2] === 0 && payload[3] === 0) add(`${dir} ike-4500`);
        else add(`${dir} esp-in-udp`);
      } else if (sport === 500 || dport === 500) add(`${dir} ike-500`);
      else add(`${dir} udp ${sport}>${dport}`);
    } else add(`${dir} proto ${proto}`);
  }
  return counts;
}

/**
 * tcpdump on our port of the bridge (every frame between us and the guest); stop() resolves to
 * the capture and tcpdump's report. --immediate-mode: with the default buffering (TPACKET_V3
 * blocks retired after a timeout) the last packets before SIGINT never reached the file.
 */
async function capture(ns: Netns, dir: string, name: string): Promise<{ stop(): Promise<{ pcap: Uint8Array; report: string }> }> {
  const file = join(dir, `${name}.pcap`);
  const p = ns.spawn(["tcpdump", "-i", "vus", "-n", "--immediate-mode", "-U", "-s", "256", "-w", file], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.setEncoding("utf8");
  p.stderr!.on("data", (d: string) => (err += d));
  const gone = new Promise<void>((r) => p.once("exit", () => r()));
  await waitFor(() => /listening on vus/.test(err), 20_000, () => `tcpdump on vus: ${err}`);
  return {
    async stop() {
      p.kill("SIGINT");
      await gone;
      return { pcap: new Uint8Array(readFileSync(file)), report: err };
    },
  };
}

describe("UML harness: modules in dependency order (modules.dep)", () => {
  // The lines of Debian's 6.1.176 UML modules.dep that XFRM_MODULES needs, and one more.
  const dep = [
    "kernel/lib/crc-ccitt.ko:",
    "kernel/net/ipv6/ipv6.ko: kernel/lib/crc-ccitt.ko",
    "kernel/net/ipv4/tunnel4.ko:",
    "kernel/net/ipv4/ip_tunnel.ko:",
    "kernel/net/ipv6/sit.ko: kernel/net/ipv4/tunnel4.ko kernel/net/ipv4/ip_tunnel.ko kernel/net/ipv6/ipv6.ko kernel/lib/crc-ccitt.ko",
    "kernel/net/xfrm/xfrm_algo.ko:",
    "kernel/net/ipv4/esp4.ko: kernel/net/xfrm/xfrm_algo.ko",
    "kernel/crypto/ghash-generic.ko: kernel/crypto/gf128mul.ko",
    "kernel/crypto/gf128mul.ko:",
  ].join("\n");
  it("puts each module after what it needs, once, and finds names with - or _", () => {
    expect(moduleLoadOrder(dep, ["sit", "esp4", "ipv6", "ghash_generic"])).toEqual([
      "kernel/net/ipv4/tunnel4.ko",
      "kernel/net/ipv4/ip_tunnel.ko",
      "kernel/lib/crc-ccitt.ko",
      "kernel/net/ipv6/ipv6.ko",
      "kernel/net/ipv6/sit.ko",
      "kernel/net/xfrm/xfrm_algo.ko",
      "kernel/net/ipv4/esp4.ko",
      "kernel/crypto/gf128mul.ko",
      "kernel/crypto/ghash-generic.ko",
    ]);
  });
  it("names a module it cannot find", () => {
    expect(() => moduleLoadOrder(dep, ["esp4", "esp6"])).toThrow("no module 'esp6' in modules.dep");
  });
});

describe.skipIf(skip)("daemon vs strongSwan + the Linux kernel's XFRM in User-Mode-Linux: RFC 4891 §5.1", () => {
  let lab: NetLab;
  let BR: Netns;
  let U: Netns;
  let guest: UmlGuest;
  let dir: string;
  const timings: string[] = [];

  beforeAll(async () => {
    lab = new NetLab();
    BR = lab.ns("br");
    U = lab.ns("us");
    BR.ip("link", "add", "br0", "type", "bridge");
    BR.ip("link", "set", "br0", "up");
    lab.veth(U, BR, { nameA: "eth0", nameB: "vus", addrA: [`${US}/24`] });
    BR.ip("link", "set", "vus", "master", "br0");
    dir = lab.tempDir("uml-daemon");
    let t = Date.now();
    guest = await UmlGuest.boot({ lab, ns: BR, bridge: "br0" });
    timings.push(`boot ${guest.bootMs} ms`);
    t = Date.now();
    await guest.insmod(XFRM_MODULES);
    timings.push(`insmod ${Date.now() - t} ms`);
    await guest.run(`ip addr add ${GUEST}/24 dev eth0\nip link set eth0 up`);
    t = Date.now();
    await guest.startCharon();
    timings.push(`charon ${Date.now() - t} ms`);
    // The two endpoints see each other on the bridge before any IPsec.
    const r = await U.execAsync(["ping", "-n", "-c", "1", "-W", "5", GUEST], { timeout: 20_000 });
    expect(r.status, r.stdout + r.stderr + guest.consoleTail()).toBe(0);
  });

  afterAll(async () => {
    if (timings.length) console.log(`UML interop timings: ${timings.join(", ")}`);
    await guest?.shutdown();
    lab?.cleanup();
  });

  for (const c of CASES) {
    it(label(c), async () => {
      const t0 = Date.now();
      const encap = c.udp !== "no";
      const steps: string[] = [];
      let tl = t0;
      /** Time since the previous step, under the name of what it took. */
      const step = (n: string) => {
        steps.push(`${n} ${Date.now() - tl}`);
        tl = Date.now();
      };
      const name = `${c.udp === "no" ? "raw" : `udp-${c.udp}`}-${c.esn ? "esn" : "noesn"}-${c.weInitiate ? "i" : "r"}`;
      // A clean guest: no SAs left from the previous case, no sit tunnel, this case's connection.
      await guest.loadSwanctl(guestConfig(c));
      expect(await guestXfrm(guest)).toEqual({ states: "", policies: "" });
      const cap = await capture(BR, dir, name);
      const logFrom = guest.charonLog().length;
      const d = startDaemon(U, dir, name, ourConfig(c));
      try {
        await waitFor(() => status(d), 30_000, () => `our control socket; log:\n${d.log()}`);
        if (!c.weInitiate) {
          // Before any SA (the guest initiates later): the guest's sit sends 6in4 in the clear,
          // which our SPD says to PROTECT, so we drop it (RFC 4891 §5, DESIGN check 4); our own
          // echo requests have no SA to go out on and are not sent in the clear either.
          const clear = await guest.sh(
            `ip tunnel add sit1 mode sit local ${GUEST} remote ${US} ttl 64
ip link set sit1 up
ip addr add ${GUEST6}/64 dev sit1
ip route add 2001:db8:a::/64 dev sit1
ping -6 -n -c 3 -i 0.3 -W 1 -I ${GUEST6} ${US6} || true
ip tunnel del sit1`,
            60_000,
          );
          expect(clear.out).toContain("3 packets transmitted, 0 received");
          const r = await U.execAsync(["ping", "-6", "-n", "-c", "2", "-i", "0.3", "-W", "1", "-I", US6, GUEST6], { timeout: 30_000 });
          expect(r.stdout).toContain("2 packets transmitted, 0 received");
          const s0 = (await status(d))!;
          expect(s0.drops["cleartext-protected"]).toBeGreaterThanOrEqual(3);
          expect(s0.drops["no-outbound-sa"]).toBeGreaterThanOrEqual(2);
          expect(s0.raw.txPackets + s0.udp.espOut).toBe(0);
          const out = await guest.swanctl("--initiate --child s --timeout 30", 60_000);
          expect(out).toContain("initiate completed successfully");
        }
        step("start");
        const s = await waitFor(
          async () => {
            const s = await status(d);
            return s?.sas.length === 1 && s.sas[0].state === "ESTABLISHED" && s.sas[0].children.length === 1 ? s : undefined;
          },
          60_000,
          () => `an established CHILD_SA; our log:\n${d.log()}\n${guest.consoleTail()}`,
        );
        const ike = s.sas[0];
        const child = ike.children[0];
        expect(ike).toMatchObject({ connection: "net", initiator: c.weInitiate, natt: encap, algorithm: "AES_GCM_16/PRF_HMAC_SHA2_256/ECP_256" });
        expect(child).toMatchObject({ mode: "TRANSPORT", esn: c.esn, encap, localTs: `${US}/32[41]`, remoteTs: `${GUEST}/32[41]`, tunnel: "t6" });
        expect(child.algorithm).toBe(`AES_GCM_16-128${c.esn ? "/ESN" : ""}`);

        // What charon negotiated and the guest kernel installed.
        await waitFor(() => /CHILD_SA s\{\d+\} established/.test(guest.charonLog().slice(logFrom)), 30_000, () => `the guest's CHILD_SA\n${guest.consoleTail()}`);
        const glog = guest.charonLog().slice(logFrom);
        expect(glog).toContain(`selected proposal: ESP:AES_GCM_16_128${c.esn ? "/EXT_SEQ" : "/NO_EXT_SEQ"}`);
        if (c.udp === "guest") expect(glog).toContain("faking NAT situation to enforce UDP encapsulation");
        if (c.udp === "ours") expect(glog).toMatch(/remote host is behind NAT/);
        if (c.udp === "no") expect(glog).not.toMatch(/behind NAT|faking NAT/);
        const { policies } = await guestXfrm(guest);
        expect(policies).toContain(`src ${GUEST}/32 dst ${US}/32 proto ipv6 \n\tdir out`);
        expect(policies).toContain(`src ${US}/32 dst ${GUEST}/32 proto ipv6 \n\tdir in`);
        expect(policies).toContain("mode transport");

        // The sit tunnel comes up after the CHILD_SA (else its first packets go out in clear).
        await guest.run(`ip tunnel add sit1 mode sit local ${GUEST} remote ${US} ttl 64
ip link set sit1 up
ip addr add ${GUEST6}/64 dev sit1
ip route add 2001:db8:a::/64 dev sit1`);
        step("established");
        const pingOut = await guest.sh(`ping -6 -n -c 3 -i 0.3 -W 3 -I ${GUEST6} ${US6} || true`, 60_000);
        const fromGuest = Number(/(\d+) received/.exec(pingOut.out)?.[1] ?? 0);
        expect(fromGuest, pingOut.out + d.log()).toBeGreaterThanOrEqual(2);
        step("guest-ping");
        const fromUs = await ping(U, US6, GUEST6);
        expect(fromUs, d.log()).toBeGreaterThanOrEqual(2);

        step("our-ping");
        const states = parseXfrmStates((await guestXfrm(guest)).states);
        expect(states).toHaveLength(2);
        const after = (await status(d))!;
        const ours = after.sas[0].children[0];
        const gOut = states.find((x) => x.src === GUEST)!;
        const gIn = states.find((x) => x.src === US)!;
        for (const x of [gOut, gIn]) {
          expect(x).toMatchObject({ mode: "transport", esn: c.esn, aead: "rfc4106(gcm(aes)) 160-bit key+salt, 128-bit ICV" });
          expect(x.encap).toBe(encap ? "espinudp sport 4500 dport 4500" : undefined);
        }
        expect(gOut.spi).toBe(ours.in!.spi);
        expect(gIn.spi).toBe(ours.out!.spi);
        // Every echo both ways went through the SAs: the kernel's counters equal ours.
        expect(ours.out!.packets).toBeGreaterThanOrEqual(fromGuest + fromUs);
        expect(gIn.packets).toBe(ours.out!.packets);
        expect(ours.in!.packets).toBe(gOut.packets);
        expect(ours.in!.drops, JSON.stringify(ours.in)).toEqual(Object.fromEntries(Object.keys(ours.in!.drops).map((k) => [k, 0])));
        if (encap) {
          expect(after.udp.espOut).toBe(ours.out!.packets);
          expect(after.raw.txPackets).toBe(0);
        } else {
          expect(after.udp.espOut).toBe(0);
          expect(after.raw.txPackets).toBe(ours.out!.packets);
        }

        // On the wire: ESP only (raw, or in UDP 4500), both ways, exactly the packets both
        // sides counted, and no clear-text 6in4.
        step("xfrm");
        const { pcap, report } = await cap.stop();
        const wire = classify(pcap);
        const seen = `${JSON.stringify(wire)}\n${report}`;
        const esp = encap ? "esp-in-udp" : "esp";
        expect(wire[`us>guest ${esp}`], seen).toBe(gIn.packets);
        expect(wire[`guest>us ${esp}`], seen).toBe(gOut.packets);
        expect(wire[`us>guest ${encap ? "esp" : "esp-in-udp"}`] ?? 0).toBe(0);
        expect(wire[`guest>us ${encap ? "esp" : "esp-in-udp"}`] ?? 0).toBe(0);
        expect(wire["us>guest clear-6in4"] ?? 0).toBe(0);
        // Only the guest's clear 6in4 from before the SA (if it initiates), every one dropped.
        expect(wire["guest>us clear-6in4"] ?? 0).toBe(after.drops["cleartext-protected"] ?? 0);
        if (!c.weInitiate) expect(wire["guest>us clear-6in4"]).toBeGreaterThanOrEqual(3);
        if (encap) expect(wire["us>guest ike-4500"] ?? 0).toBeGreaterThan(0);
        else expect(wire["us>guest ike-4500"] ?? 0).toBe(0);

        if (c.rekey) {
          // CHILD_SA rekeys (CREATE_CHILD_SA with USE_TRANSPORT_MODE) with the kernel's SAs:
          // the guest's (swanctl --rekey), then ours (rekey_packets).
          step("wire");
          expect(await guest.swanctl("--rekey --child s")).toContain("rekey completed successfully");
          const r1 = await rekeyed(d, ours.in!.spi, "the guest's rekey");
          await pingBothWays(guest, U, d);
          await expectGuestSpis(guest, r1);
          step("guest-rekey");
          // 25 echoes: more than rekey_packets = 20 in each direction on the new SA.
          await U.execAsync(["ping", "-6", "-n", "-q", "-c", "25", "-i", "0.05", "-W", "3", "-I", US6, GUEST6], { timeout: 30_000 });
          const r2 = await rekeyed(d, r1.in!.spi, "our rekey_packets rekey");
          expect(d.log()).toMatch(/rekeying CHILD_SA v6\{\d+\} [0-9a-f]{8}_i: rekey_packets 20 \(\d+ packets\)/);
          await pingBothWays(guest, U, d);
          await expectGuestSpis(guest, r2);
          expect(r2.in!.drops, JSON.stringify(r2.in)).toEqual(Object.fromEntries(Object.keys(r2.in!.drops).map((k) => [k, 0])));
          step("our-rekey");
        }

        // SIGTERM: our daemon deletes the IKE_SA; the guest removes its SAs and policies.
        d.child.kill("SIGTERM");
        expect(await d.exited).toBe(0);
        await waitFor(
          async () => {
            const x = await guestXfrm(guest);
            return x.states === "" && x.policies === "";
          },
          30_000,
          () => `the guest's SAs gone\n${guest.consoleTail()}`,
        );
        expect(guest.charonLog().slice(logFrom)).toMatch(/received DELETE for IKE_SA uml\[\d+\]/);
        step("deleted");
        timings.push(`${name} ${Date.now() - t0} ms (${steps.join(" ")})`);
      } finally {
        await killDaemon(d);
        await cap.stop().catch(() => undefined);
        if (guest.running) await guest.sh("swanctl --terminate --ike uml --force --timeout 5 --uri unix:///run/charon.vici >/dev/null 2>&1 || true; ip tunnel del sit1 2>/dev/null || true").catch(() => undefined);
      }
    });
  }
});
