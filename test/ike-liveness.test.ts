// Liveness checks (RFC 7296 §2.4, swanctl.conf's dpd_delay) between two IKEv2 endpoints wired
// back to back: an idle IKE_SA gets empty INFORMATIONAL requests after dpd_delay and stays up;
// ESP from the peer (counted by the dataplane) holds them back; a peer that stops answering is
// declared dead after the retransmissions, with its CHILD_SAs gone from the dataplane (cause
// "peer-dead"); a restarted peer's INITIAL_CONTACT replaces the old IKE_SA (cause "replaced").
// And the daemon's reading of dpd_action / close_action for each cause, with its back-off.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import { createDataplane, type Dataplane } from "../src/pipeline.js";
import { IkeEndpoint, type IkeEndpointOptions, type IkeEvent, type UdpAddress } from "../src/ike/endpoint.js";
import { INFORMATIONAL } from "../src/ike/constants.js";
import { restartFor, retryDelayMs } from "../src/daemon-restart.js";

const A = "198.51.100.1";
const B = "198.51.100.2";

function conf(me: string, peer: string, connExtra = "", childExtra = "") {
  return loadConfig(
    `
connections {
  peer {
    local_addrs = ${me}
    remote_addrs = ${peer}
    proposals = aes128gcm16-prfsha256-ecp256
    ${connExtra}
    local { auth = psk
      id = ${me} }
    remote { auth = psk
      id = ${peer} }
    children {
      net {
        mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = aes128gcm16
        ${childExtra}
      }
    }
  }
}
secrets { ike-1 { secret = 0x0102030405060708090a0b0c0d0e0f10 } }
tunnels { t1 { local = ${me}
  remote = ${peer}
  address = ${me === A ? "2001:db8:1::1/64" : "2001:db8:2::1/64"}
  routes = ${me === A ? "2001:db8:2::/48" : "2001:db8:1::/48"} } }
`,
    { file: `${me}.conf` },
  );
}

interface Side {
  ike: IkeEndpoint;
  dp: Dataplane;
  logs: string[];
  events: IkeEvent[];
  /** IKE requests this side sent, by exchange type (retransmissions included). */
  requests: number[];
}

/** Endpoints by address on one wire; `mute` holds the addresses whose datagrams are lost. */
function wire() {
  const sides = new Map<string, Side>();
  const mute = new Set<string>();
  const side = async (me: string, peer: string, connExtra: string, extra: Partial<IkeEndpointOptions> = {}) => {
    const dp = await createDataplane({ sas: 8, tunnels: 1 });
    const config = conf(me, peer, connExtra);
    const t = config.tunnels.t1;
    dp.addTunnel({ name: t.name, local: t.local, remote: t.remote, address: `${t.address!.address}/${t.address!.length}`, routes: t.routes.map((r) => `${r.address}/${r.length}`), allow: t.allow.map((r) => `${r.address}/${r.length}`) });
    const s: Side = { dp, logs: [], events: [], requests: [], ike: undefined as never };
    s.ike = new IkeEndpoint({
      config,
      dataplane: dp,
      log: (_l, m) => s.logs.push(m),
      onEvent: (e) => s.events.push(e),
      retransmit: { timeout: 40, base: 1.5, tries: 3 },
      pollMs: 20,
      ...extra,
      send: (data: Uint8Array, from: UdpAddress, to: UdpAddress) => {
        if ((data[19] & 0x20) === 0) s.requests.push(data[18]); // IKE header: exchange type, flags (R = 0x20)
        if (mute.has(me)) return;
        const copy = data.slice();
        setImmediate(() => sides.get(to.address)?.ike.receive(copy, from, to));
      },
    });
    sides.set(me, s);
    return s;
  };
  return { side, mute };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One IPv6 packet from `from` through its outbound SA into `to`'s inbound path: the verdict there. */
function carry(from: Dataplane, to: Dataplane, src: string, dst: string): string {
  const p = new Uint8Array(48);
  p.set([0x60, 0, 0, 0, 0, 8, 58, 64]);
  const put = (at: number, a: string) => {
    const [head, tail] = a.split("::");
    const h = head.split(":").filter(Boolean).map((x) => parseInt(x, 16));
    const t = (tail ?? "").split(":").filter(Boolean).map((x) => parseInt(x, 16));
    [...h, ...new Array(8 - h.length - t.length).fill(0), ...t].forEach((v, i) => {
      p[at + 2 * i] = v >> 8;
      p[at + 2 * i + 1] = v & 0xff;
    });
  };
  put(8, src);
  put(24, dst);
  p[40] = 128;
  const o = from.createBatch({ packets: 1 });
  o.addPacket(p);
  from.outbound(o);
  if (o.verdict(0) !== "send") return `outbound ${o.verdict(0)} ${o.reason(0)}`;
  const i = to.createBatch({ packets: 1 });
  i.addPacket(o.output(0).slice());
  to.inbound(i);
  return i.verdict(0) === "deliver" ? "deliver" : `inbound ${i.reason(0)}`;
}

const informationals = (s: Side) => s.requests.filter((x) => x === INFORMATIONAL).length;

describe("liveness checks (RFC 7296 §2.4, dpd_delay)", () => {
  it("an idle IKE_SA gets an empty INFORMATIONAL after dpd_delay, answered: it stays up", async () => {
    const w = wire();
    // dpd_delay = 1 "second" of 100 ms (secondMs scales it like the lifetimes)
    const a = await w.side(A, B, "dpd_delay = 1s", { secondMs: 100 });
    const b = await w.side(B, A, "");
    const sa = await a.ike.initiate("peer");
    expect(informationals(a)).toBe(0);
    await sleep(650);
    expect(informationals(a)).toBeGreaterThanOrEqual(2);
    expect(informationals(b)).toBe(0); // B has no dpd_delay
    expect(a.logs.join("\n")).toMatch(new RegExp(`sending DPD request: nothing from ${B.replace(/\./g, "\\.")} on IKE_SA peer\\[${sa.id}\\] for \\d+\\.\\ds`));
    expect(a.ike.list().map((s) => [s.id, s.state])).toEqual([[sa.id, "established"]]);
    expect(a.events.filter((e) => e.type === "ike-down")).toEqual([]);
    expect(carry(a.dp, b.dp, "2001:db8:1::1", "2001:db8:2::1")).toBe("deliver");
    await a.ike.close();
    await b.ike.close();
  });

  it("ESP arriving from the peer holds the checks back; once it stops, they start", async () => {
    const w = wire();
    const a = await w.side(A, B, "dpd_delay = 1s");
    const b = await w.side(B, A, "");
    await a.ike.initiate("peer");
    // 1 s of real time between checks; B sends ESP every 50 ms for 2.5 s.
    let esp = 0;
    const feed = setInterval(() => {
      expect(carry(b.dp, a.dp, "2001:db8:2::1", "2001:db8:1::1")).toBe("deliver");
      esp++;
    }, 50);
    await sleep(2500);
    clearInterval(feed);
    expect(esp).toBeGreaterThan(10);
    expect(informationals(a)).toBe(0);
    // ESP *from* A is no sign of B: with B silent, a check comes within about two dpd_delays.
    const t0 = performance.now();
    while (informationals(a) === 0 && performance.now() - t0 < 10_000) {
      carry(a.dp, b.dp, "2001:db8:1::1", "2001:db8:2::1");
      await sleep(50);
    }
    expect(informationals(a)).toBe(1);
    expect(a.ike.list()[0].state).toBe("established");
    await a.ike.close();
    await b.ike.close();
  });

  it("a peer that stops answering is declared dead after the retransmissions: IKE_SA and CHILD_SAs gone, cause peer-dead", async () => {
    const w = wire();
    const a = await w.side(A, B, "dpd_delay = 1s", { secondMs: 100 });
    const b = await w.side(B, A, "");
    const sa = await a.ike.initiate("peer");
    const child = sa.children[0];
    w.mute.add(B); // B's process is gone: nothing comes back
    const down = await new Promise<IkeEvent>((resolve, reject) => {
      const t0 = performance.now();
      const poll = setInterval(() => {
        const e = a.events.find((x) => x.type === "ike-down");
        if (e) resolve(e);
        else if (performance.now() - t0 > 15_000) reject(new Error(`no ike-down; log:\n${a.logs.join("\n")}`));
        else return;
        clearInterval(poll);
      }, 20);
    });
    // message 2 (0 and 1 were IKE_SA_INIT and IKE_AUTH): the check and its three retransmissions
    expect(down).toMatchObject({ type: "ike-down", cause: "peer-dead", reason: "no reply to message 2 after 3 retransmits: peer is gone", sa: { id: sa.id } });
    expect(a.requests.filter((x) => x === INFORMATIONAL)).toHaveLength(4);
    expect(a.events.filter((e) => e.type === "child-down")).toMatchObject([{ child: { spiIn: child.spiIn, spiOut: child.spiOut }, reason: "no reply to message 2 after 3 retransmits: peer is gone" }]);
    expect(a.ike.list()).toEqual([]);
    expect(a.logs.join("\n")).toContain(`IKE_SA peer[${sa.id}] failed: no reply to message 2 after 3 retransmits: peer is gone`);
    // The dataplane no longer has the SAs: outbound finds none, B's ESP is not recognised.
    expect(carry(a.dp, b.dp, "2001:db8:1::1", "2001:db8:2::1")).toBe("outbound dropped no-outbound-sa");
    expect(carry(b.dp, a.dp, "2001:db8:2::1", "2001:db8:1::1")).toBe("inbound unknown-spi");
    await a.ike.close();
    await b.ike.close();
  });

  it("a restarted peer's INITIAL_CONTACT replaces the IKE_SA we hold (cause replaced), with new SPIs", async () => {
    const w = wire();
    const a = await w.side(A, B, "");
    const b = await w.side(B, A, "dpd_delay = 30s");
    const old = await a.ike.initiate("peer");
    const a2 = await w.side(A, B, ""); // a restarts: a new endpoint for the same address
    const fresh = await a2.ike.initiate("peer");
    await sleep(50);
    const held = b.ike.list();
    expect(held).toHaveLength(1);
    expect(held[0].spiI).toBe(fresh.spiI);
    expect(held[0].spiI).not.toBe(old.spiI);
    expect(held[0].children[0].spiIn).toBe(fresh.children[0].spiOut);
    expect(b.events.filter((e) => e.type === "ike-down")).toMatchObject([{ cause: "replaced", reason: "replaced (INITIAL_CONTACT)", sa: { spiI: old.spiI } }]);
    expect(carry(a2.dp, b.dp, "2001:db8:1::1", "2001:db8:2::1")).toBe("deliver");
    expect(carry(b.dp, a2.dp, "2001:db8:2::1", "2001:db8:1::1")).toBe("deliver");
    await a.ike.close();
    await a2.ike.close();
    await b.ike.close();
  });
});

describe("the daemon's dpd_action / close_action (src/daemon-restart.ts)", () => {
  const connOf = (child: string) => conf(A, B, "", child).connections.peer;

  it("restarts on the cause each setting names, and on no other", () => {
    const dpd = connOf("dpd_action = restart");
    expect(restartFor(dpd, "peer-dead")).toEqual({ children: ["net"], setting: "dpd_action = restart" });
    for (const c of ["peer-deleted", "replaced", "failed", "local"] as const) expect(restartFor(dpd, c)).toBeUndefined();
    const close = connOf("close_action = start");
    expect(restartFor(close, "peer-deleted")).toEqual({ children: ["net"], setting: "close_action = start" });
    for (const c of ["peer-dead", "replaced", "failed", "local"] as const) expect(restartFor(close, c)).toBeUndefined();
    // strongSwan's aliases: dpd_action = start is restart; clear and trap never re-initiate here.
    expect(restartFor(connOf("dpd_action = start"), "peer-dead")?.setting).toBe("dpd_action = restart");
    expect(restartFor(connOf("dpd_action = clear"), "peer-dead")).toBeUndefined();
    expect(restartFor(connOf("dpd_action = trap"), "peer-dead")).toBeUndefined();
    expect(restartFor(connOf(""), "peer-dead")).toBeUndefined();
  });

  it("waits 1, 2, 4 … seconds between failed attempts, at most 30", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
