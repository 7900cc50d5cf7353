/**
 * The tunnel daemon: a configuration (swanctl.conf + tunnels) becomes a running RFC 4891
 * endpoint.
 *
 *   config ──► Dataplane (wasm): tunnels with their SPD decision, routes, ingress filters
 *          ──► UdpNode: IKEv2 on the IKE port, IKE + UDP-encapsulated ESP on the NAT-T port
 *          ──► raw IPv4 sockets for protocols 50 and 41 (native addon, when it can open them)
 *          ──► one TUN device per tunnel (native addon), addressed and routed with iproute2
 *          ──► control socket (JSON lines: status, down)
 *
 *   TUN read (IPv6 from the local stack) → UdpNode.send → dataplane outbound → UDP 4500 / raw ESP
 *   UDP 4500 / raw ESP / raw 41 → dataplane inbound → TUN write of the tunnel the packet came from
 *
 * Connections with a child `start_action = start` are initiated (the first such child in
 * IKE_AUTH, the others with CREATE_CHILD_SA on that IKE_SA, as charon does), the others wait for the peer;
 * when an IKE_SA goes, `dpd_action = restart` (the peer stopped answering) and
 * `close_action = start` (the peer deleted it) initiate it again, with growing pauses between
 * failed attempts (src/daemon-restart.ts). Rekeys and
 * expiries by lifetime are the IKE endpoint's (RFC 7296 §2.8). Logs go to stderr in
 * charon's file-logger style with levels (`Nov 28 22:00:01 00[IKE1] …`); keys never reach them.
 * stop() deletes every IKE_SA (the peer is told), closes the TUN devices (which removes them
 * with their addresses and routes) and the sockets. A TUN device removed underneath is reported
 * and, by default, the daemon stops with an error (`onTunLoss: "recreate"` brings it back).
 */
import { INSPECT_SYMBOL } from "./redact.js";
import { createServer, type Server, type Socket as NetSocket, connect } from "node:net";
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { loadConfigFile } from "./config/index.js";
import type { Config } from "./config/model.js";
import { createDataplane, slotBytesForTunnels, type Dataplane, type PipelineBatch } from "./pipeline.js";
import { policyFromConfig } from "./policy.js";
import { UdpNode } from "./node/udp.js";
import type { ChildSaInfo, IkeEvent, IkeSaInfo, LogLevel } from "./ike/endpoint.js";
import { DH_NAMES, ENCR_NAMES, PRF_NAMES } from "./ike/constants.js";
import { loadAddon, type AddonResult, type NativeAddon } from "./node/addon.js";
import { TunDevice, validIfname } from "./node/tun.js";
import { RawSocket } from "./node/raw.js";
import type { SaHandle } from "./esp.js";
import { IpsecError } from "./errors.js";
import { parseIp, toBig } from "./addr.js";
import { DEFAULT_SOCKET } from "./control.js";
import { restartFor, retryDelayMs } from "./daemon-restart.js";

export { DEFAULT_SOCKET };

// ───────────────────────────── logging ─────────────────────────────

export type LogGroup = "DMN" | "CFG" | "IKE" | "CHD" | "KNL" | "NET" | "ESP";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** charon's file logger with `log_level = yes`: "Nov 28 22:00:01 00[IKE1] message". */
export function formatLogLine(group: LogGroup, level: number, message: string, at = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const time = `${MONTHS[at.getMonth()]} ${String(at.getDate()).padStart(2, " ")} ${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}`;
  return `${time} 00[${group}${level}] ${message}`;
}

export class Logger {
  constructor(
    private readonly write: (line: string) => void,
    /** Highest level printed (charon's default: 1). */
    public level = 1,
  ) {}
  log(group: LogGroup, level: number, message: string): void {
    if (level <= this.level) this.write(formatLogLine(group, level, message) + "\n");
  }
}

// ───────────────────────────── status ─────────────────────────────

export interface SaCounters {
  spi: string;
  bytes: number;
  packets: number;
  /** Outbound: the last sequence number used. */
  sequence?: number;
  drops: Record<string, number>;
}

export interface ChildStatus {
  name: string;
  uniqueId: number;
  state: "INSTALLED";
  mode: "TUNNEL" | "TRANSPORT";
  protocol: "ESP";
  encap: boolean;
  algorithm: string;
  esn: boolean;
  /** The DH group of the CREATE_CHILD_SA that made it (PFS), as swanctl names it ("ECP_256"). */
  dhGroup?: string;
  localTs: string;
  remoteTs: string;
  tunnel?: string;
  installedSecondsAgo: number;
  rekeyInSeconds?: number;
  expiresInSeconds?: number;
  in?: SaCounters;
  out?: SaCounters;
}

export interface IkeStatus {
  connection: string;
  uniqueId: number;
  state: string;
  version: 2;
  initiator: boolean;
  spiI: string;
  spiR: string;
  local: string;
  remote: string;
  natt: boolean;
  algorithm: string;
  establishedSecondsAgo?: number;
  children: ChildStatus[];
}

export interface TunnelStatus {
  name: string;
  ifname?: string;
  up: boolean;
  local: string;
  remote: string;
  address: string;
  routes: string[];
  mtu: number;
  policy: string;
  protectedBy?: string;
  outboundSpi?: string;
  tun?: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; txErrors: number };
}

export interface DaemonStatus {
  pid: number;
  uptimeSeconds: number;
  config: string;
  socket: string;
  addon: { loaded: boolean; path?: string; reason?: string };
  udp: { address: string; ikePort: number; nattPort: number; ikeIn: number; espIn: number; espOut: number; keepalives: number; sendErrors: number };
  raw: { esp: boolean; ipv6inipv4: boolean; reason?: string; rxPackets: number; txPackets: number; txErrors: number };
  tunnels: TunnelStatus[];
  sas: IkeStatus[];
  /** Dataplane drop counters by reason (every SA, and packets that matched none). */
  drops: Record<string, number>;
}

// ───────────────────────────── the daemon ─────────────────────────────

export interface DaemonOptions {
  /** Path of the configuration (swanctl.conf syntax with a tunnels section, or JSON). */
  configFile: string;
  /** Already loaded configuration (else read from configFile). */
  config?: Config;
  /** Control socket (default /run/ipsec6in4.sock); "" for none. */
  socket?: string;
  /** stderr by default. */
  logWrite?: (line: string) => void;
  logLevel?: number;
  /** Local IPv4 address for the sockets (default: the connections'/tunnels' single local address). */
  address?: string;
  ikePort?: number;
  nattPort?: number;
  /** Interface name per tunnel (default: the tunnel's name). */
  ifnames?: Record<string, string>;
  /** Raw ESP/6in4 sockets: "auto" (default: when they can be opened), "on" (required), "off". */
  raw?: "auto" | "on" | "off";
  /** What to do when a TUN device disappears underneath: "exit" (default) or "recreate". */
  onTunLoss?: "exit" | "recreate";
  /** IKE retransmission (ms, factor, tries); charon's defaults otherwise. */
  retransmit?: { timeout?: number; base?: number; tries?: number };
  /** Override the addon (tests). */
  addon?: AddonResult;
}

interface ChildTrack {
  installed: number;
  inbound?: SaHandle;
  outbound?: SaHandle;
  rekeyTimer?: ReturnType<typeof setTimeout>;
}

interface TunnelRuntime {
  name: string;
  ifname: string;
  index: number;
  tun?: TunDevice;
  /** The device has its address, MTU and routes (status says `up` only then). */
  configured?: boolean;
  recreations: number[];
}

export class Daemon {
  /** A summary in util.inspect / JSON.stringify (the configuration and endpoint inside hold keys); status() has the rest. */
  [INSPECT_SYMBOL](): string {
    return `Daemon { config: '${this.opt.configFile}', tunnels: ${this.tunnels.size}, socket: '${this.socketPath}' }`;
  }

  toJSON(): object {
    return { config: this.opt.configFile, tunnels: this.tunnels.size, socket: this.socketPath };
  }

  readonly config: Config;
  readonly log: Logger;
  readonly dp: Dataplane;
  readonly node: UdpNode;
  readonly socketPath: string;
  /** Resolves with the exit status once the daemon has stopped. */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private readonly opt: DaemonOptions;
  private readonly addonResult: AddonResult;
  private readonly addon?: NativeAddon;
  private readonly tunnels = new Map<string, TunnelRuntime>();
  private readonly byIndex = new Map<number, TunnelRuntime>();
  /**
   * By the CHILD_SA's inbound SPI (ours, unique), not by IKE_SA: an IKE_SA rekey moves the
   * CHILD_SAs to the new IKE_SA (RFC 7296 §2.18) with no child event.
   */
  private readonly children = new Map<number, ChildTrack>();
  private readonly ikeUp = new Map<number, number>();
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private rawEsp?: RawSocket;
  private raw41?: RawSocket;
  private rawReason?: string;
  private rawRx?: PipelineBatch;
  private rawQueued = false;
  private server?: Server;
  private readonly started = Date.now();
  private stopping?: Promise<void>;
  private exitCode = 0;
  private lastAdded: { in?: SaHandle; out?: SaHandle } = {};

  private constructor(opt: DaemonOptions, config: Config, log: Logger, dp: Dataplane, node: UdpNode, addon: AddonResult) {
    this.opt = opt;
    this.config = config;
    this.log = log;
    this.dp = dp;
    this.node = node;
    this.addonResult = addon;
    this.addon = addon.ok ? addon.addon : undefined;
    this.socketPath = opt.socket ?? DEFAULT_SOCKET;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Start everything; throws IpsecError (config, addon, TUN, sockets) with what is wrong. */
  static async start(opt: DaemonOptions): Promise<Daemon> {
    const log = new Logger(opt.logWrite ?? ((l) => process.stderr.write(l)), opt.logLevel ?? 1);
    log.log("DMN", 0, `Starting ipsec6in4 daemon (pid ${process.pid}, Node ${process.version})`);
    let config: Config;
    try {
      config = opt.config ?? loadConfigFile(opt.configFile);
    } catch (e) {
      throw new IpsecError("ERR_CONFIG", (e as Error).message);
    }
    const tunnelCount = Object.keys(config.tunnels).length;
    log.log("CFG", 1, `loaded ${Object.keys(config.connections).length} connection(s), ${Object.keys(config.secrets).length} secret(s), ${tunnelCount} tunnel(s) from ${opt.configFile}`);
    const addon = opt.addon ?? loadAddon();
    if (addon.ok) log.log("DMN", 1, `native addon loaded from ${addon.path}`);
    if (!addon.ok && tunnelCount > 0) {
      throw new IpsecError("ERR_CONFIG", `cannot create the TUN devices of ${tunnelCount} tunnel(s): ${addon.reason}`);
    }
    if (!addon.ok) log.log("DMN", 0, `native addon unavailable (${addon.reason}): IKE only, no TUN devices, no raw ESP`);

    const address = opt.address ?? localAddress(config);
    const ifnames = new Map<string, string>();
    for (const t of Object.values(config.tunnels)) {
      const ifname = opt.ifnames?.[t.name] ?? t.name;
      if (!validIfname(ifname)) {
        throw new IpsecError("ERR_CONFIG", `tunnel '${t.name}': '${ifname}' is not a valid interface name (at most 15 of A-Z a-z 0-9 _ . -); choose one with --ifname ${t.name}=NAME`);
      }
      ifnames.set(t.name, ifname);
    }
    for (const name of Object.keys(opt.ifnames ?? {})) if (!config.tunnels[name]) throw new IpsecError("ERR_CONFIG", `--ifname: no tunnel '${name}' in the configuration`);

    const dp = await createDataplane({ sas: 1024, tunnels: Math.max(1, tunnelCount) });
    const policy = policyFromConfig(config);
    const indices = new Map<string, number>();
    for (const t of policy.tunnels) {
      indices.set(t.config.name, dp.addTunnel(t.config, t.policy).index);
      log.log("CFG", 1, `tunnel ${t.config.name}: ${t.config.local} === ${t.config.remote}, policy ${t.policy.toUpperCase()}${t.connection ? ` by connection ${t.connection}` : ""}`);
    }

    // The daemon object exists before the node so that callbacks can reach it.
    let self: Daemon | undefined;
    const node = await UdpNode.bind({
      config,
      dataplane: dp,
      address,
      ikePort: opt.ikePort,
      nattPort: opt.nattPort,
      deliver: (p, tunnel) => self?.deliver(p, tunnel),
      ike: {
        retransmit: opt.retransmit,
        log: (level: LogLevel, m: string) => log.log(/CHILD_SA/.test(m) ? "CHD" : "IKE", level, m),
        onEvent: (e: IkeEvent) => self?.onIkeEvent(e),
      },
    }).catch((e: NodeJS.ErrnoException) => {
      throw new IpsecError("ERR_CONFIG", `cannot bind the IKE/NAT-T sockets on ${address} (ports ${opt.ikePort ?? 500}, ${opt.nattPort ?? 4500}): ${e.code ?? e.message}${e.code === "EADDRNOTAVAIL" ? " (the address is not on this host)" : e.code === "EACCES" ? " (ports below 1024 need root)" : e.code === "EADDRINUSE" ? " (another IKE daemon runs?)" : ""}`);
    });
    log.log("NET", 1, `listening on ${address}[${node.ikePort}] (IKE) and ${address}[${node.nattPort}] (IKE and ESP in UDP)`);
    const d = new Daemon(opt, config, log, dp, node, addon);
    self = d;
    d.trackSaHandles();
    try {
      for (const t of Object.values(config.tunnels)) {
        const rt: TunnelRuntime = { name: t.name, ifname: ifnames.get(t.name)!, index: indices.get(t.name)!, recreations: [] };
        d.tunnels.set(t.name, rt);
        d.byIndex.set(rt.index, rt);
        await d.openTun(rt);
      }
      d.openRaw();
      if (d.socketPath) await d.listen();
    } catch (e) {
      await d.teardown();
      throw e instanceof IpsecError ? e : new IpsecError("ERR_CONFIG", (e as Error).message);
    }
    log.log("DMN", 0, `ipsec6in4 up: ${d.tunnels.size} tunnel interface(s)${d.socketPath ? `, control socket ${d.socketPath}` : ""}`);
    d.startConnections();
    return d;
  }

  // ── SA handles: the endpoint installs SAs through dp.esp; remember which belong to which CHILD_SA ──
  private trackSaHandles(): void {
    const esp = this.dp.esp;
    const addIn = esp.addInbound.bind(esp);
    const addOut = esp.addOutbound.bind(esp);
    esp.addInbound = (p) => (this.lastAdded.in = addIn(p));
    esp.addOutbound = (p) => (this.lastAdded.out = addOut(p));
  }

  // ── TUN devices ──
  private async openTun(rt: TunnelRuntime): Promise<void> {
    const addon = this.addon!;
    const cfg = this.config.tunnels[rt.name];
    const tun = TunDevice.open(addon, rt.ifname, {
      onPackets: (pkts) => this.fromTun(rt, pkts),
      onError: (e) => this.tunLost(rt, e.message),
    });
    rt.tun = tun;
    rt.configured = false;
    const address = cfg.address ? `${cfg.address.address}/${cfg.address.length}` : undefined;
    const routes = cfg.routes.map((p) => `${p.address}/${p.length}`);
    try {
      await tun.configure({ mtu: cfg.mtu, address: address ?? `${linkLocal(cfg.local)}/64`, routes });
    } catch (e) {
      tun.close();
      rt.tun = undefined;
      throw new IpsecError("ERR_CONFIG", `tunnel '${rt.name}': cannot configure ${rt.ifname}: ${(e as Error).message}`);
    }
    if (rt.tun === tun) rt.configured = true;
    this.log.log("KNL", 0, `created TUN device ${rt.ifname} for tunnel ${rt.name}: ${address ?? "link-local only"}, mtu ${cfg.mtu}${routes.length ? `, routes ${routes.join(" ")}` : ""}`);
  }

  private fromTun(rt: TunnelRuntime, pkts: Buffer[]): void {
    if (this.stopping) return;
    const verdicts = this.node.send(pkts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.length)));
    if (this.log.level >= 2) {
      const dropped = verdicts.filter((v) => v !== "send" && v !== "packet-too-big");
      if (dropped.length) this.log.log("ESP", 2, `${rt.ifname}: ${dropped.length} of ${pkts.length} outbound packet(s) dropped (${[...new Set(dropped)].join(", ")})`);
    }
  }

  private deliver(packet: Uint8Array, tunnel: number): void {
    const rt = this.byIndex.get(tunnel);
    if (!rt?.tun) return;
    if (!rt.tun.write(packet)) this.log.log("KNL", 2, `${rt.ifname}: write failed (${rt.tun.lastWriteError ?? "device gone"})`);
  }

  private tunLost(rt: TunnelRuntime, why: string): void {
    if (this.stopping) return;
    this.log.log("KNL", 0, `${why}`);
    rt.tun?.close();
    rt.tun = undefined;
    const now = Date.now();
    rt.recreations = rt.recreations.filter((t) => now - t < 60_000);
    if (this.opt.onTunLoss === "recreate" && rt.recreations.length < 3) {
      rt.recreations.push(now);
      this.log.log("KNL", 0, `recreating TUN device ${rt.ifname} for tunnel ${rt.name}`);
      this.openTun(rt).catch((e: Error) => this.fatal(`cannot recreate TUN device ${rt.ifname}: ${e.message}`));
      return;
    }
    this.fatal(`tunnel ${rt.name} lost its TUN device ${rt.ifname}`);
  }

  private fatal(message: string): void {
    this.exitCode = 1;
    void this.stop(message);
  }

  // ── raw sockets (ESP without UDP encapsulation, clear-text 6in4) ──
  private openRaw(): void {
    const mode = this.opt.raw ?? "auto";
    if (mode === "off") {
      this.rawReason = "disabled (--raw off)";
      return;
    }
    if (!this.addon) {
      this.rawReason = this.addonResult.ok ? "" : this.addonResult.reason;
      if (mode === "on") throw new IpsecError("ERR_CONFIG", `raw ESP sockets requested but ${this.rawReason}`);
      return;
    }
    try {
      this.rawEsp = RawSocket.open(this.addon, 50, (p) => this.fromRaw(p), (e) => this.log.log("NET", 0, e.message));
      this.raw41 = RawSocket.open(this.addon, 41, (p) => this.fromRaw(p), (e) => this.log.log("NET", 0, e.message));
    } catch (e) {
      this.rawEsp?.close();
      this.rawEsp = undefined;
      this.rawReason = (e as Error).message;
      if (mode === "on") throw new IpsecError("ERR_CONFIG", this.rawReason);
      this.log.log("NET", 0, `raw ESP unavailable, UDP encapsulation only: ${this.rawReason}`);
      return;
    }
    this.rawRx = this.dp.createBatch({ packets: 64, slotBytes: slotBytesForTunnels(Object.values(this.config.tunnels)) });
    // Outbound results that are not UDP-encapsulated (raw ESP, or clear 6in4 for BYPASS
    // tunnels) go out of the raw socket. UdpNode.send counts them as `rawNeeded`.
    const dp = this.dp;
    const outbound = dp.outbound.bind(dp);
    dp.outbound = (batch: PipelineBatch) => {
      const n = outbound(batch);
      for (let i = 0; i < batch.length; i++) {
        if (batch.verdict(i) !== "send") continue;
        const o = batch.output(i);
        if (o[9] === 17) continue;
        (o[9] === 50 ? this.rawEsp : this.raw41)?.send(o);
      }
      return n;
    };
    this.log.log("NET", 1, "raw IPv4 sockets open for protocols 50 (ESP) and 41 (IPv6-in-IPv4)");
  }

  private fromRaw(pkts: Buffer[]): void {
    const rx = this.rawRx;
    if (!rx || this.stopping) return;
    for (const p of pkts) {
      if (!rx.fits(p.length)) {
        this.dp.countNoRoom(); // larger than any tunnel's packets
        continue;
      }
      if (rx.length >= rx.capacity) this.flushRaw();
      rx.addPacket(new Uint8Array(p.buffer, p.byteOffset, p.length));
    }
    if (!this.rawQueued) {
      this.rawQueued = true;
      setImmediate(() => this.flushRaw());
    }
  }

  private flushRaw(): void {
    this.rawQueued = false;
    const rx = this.rawRx;
    if (!rx || rx.length === 0 || this.stopping) return;
    this.dp.inbound(rx);
    for (let i = 0; i < rx.length; i++) if (rx.verdict(i) === "deliver") this.deliver(rx.output(i).slice(), rx.tunnelIndex(i));
    rx.clear();
  }

  // ── IKE ──
  private onIkeEvent(e: IkeEvent): void {
    const key = (_sa: IkeSaInfo, c: ChildSaInfo) => c.spiIn;
    switch (e.type) {
      case "ike-up": {
        this.ikeUp.set(e.sa.id, Date.now());
        // An IKE_SA replaced by a rekey (RFC 7296 §2.18) goes without an ike-down: forget it here.
        const live = new Set(this.node.ike.list().map((sa) => sa.id));
        for (const id of this.ikeUp.keys()) if (!live.has(id) && id !== e.sa.id) this.ikeUp.delete(id);
        break;
      }
      case "ike-down": {
        this.ikeUp.delete(e.sa.id);
        this.log.log("IKE", 0, `IKE_SA ${e.sa.connection}[${e.sa.id}] down: ${e.reason}`);
        const conn = this.config.connections[e.sa.connection];
        const restart = conn && !this.stopping ? restartFor(conn, e.cause) : undefined;
        if (restart) {
          this.log.log("IKE", 0, `restarting connection ${conn.name} (${restart.setting})`);
          this.initiateLater(conn.name, restart.children, retryDelayMs(1));
        }
        break;
      }
      case "child-up": {
        if (!this.ikeUp.has(e.sa.id)) this.ikeUp.set(e.sa.id, Date.now()); // the first CHILD_SA comes with IKE_AUTH
        const track: ChildTrack = { installed: Date.now(), inbound: this.lastAdded.in, outbound: this.lastAdded.out };
        this.lastAdded = {};
        this.children.set(key(e.sa, e.child), track);
        const conf = this.config.connections[e.sa.connection]?.children[e.child.name];
        // Rekeying by rekey_time / bytes / packets and expiry by life_* are the IKE endpoint's
        // own (src/ike/endpoint.ts lifetimes); the daemon only tracks the SA for status.
        void conf;
        break;
      }
      case "child-down": {
        const t = this.children.get(key(e.sa, e.child));
        if (t?.rekeyTimer) clearTimeout(t.rekeyTimer);
        this.children.delete(key(e.sa, e.child));
        this.log.log("CHD", 1, `CHILD_SA ${e.child.name}{${e.sa.id}} with SPIs ${hex8(e.child.spiIn)}_i ${hex8(e.child.spiOut)}_o removed: ${e.reason}`);
        break;
      }
    }
  }

  private startConnections(): void {
    for (const conn of Object.values(this.config.connections)) {
      const starting = Object.values(conn.children).filter((c) => c.start_action === "start" || c.start_action === "trap|start");
      if (starting.length === 0) {
        this.log.log("CFG", 1, `connection ${conn.name}: waiting for the peer (no child with start_action = start)`);
        continue;
      }
      this.initiate(conn.name, starting.map((c) => c.name), 1);
    }
  }

  /**
   * Initiate `conn` with the first of `children` in IKE_AUTH, then the others one after the
   * other with CREATE_CHILD_SA on that IKE_SA (as charon brings up a connection's children).
   */
  private initiate(conn: string, children: string[], attempt: number): void {
    if (this.stopping) return;
    const c = this.config.connections[conn];
    this.log.log("IKE", 0, `initiating IKE_SA ${conn} to ${c.remote_addrs.map(specText).join(",")}${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
    this.node.ike.initiate(conn, children[0]).then(
      async (sa) => {
        this.log.log("IKE", 1, `connection ${conn}: IKE_SA ${sa.id} with ${sa.children.length} CHILD_SA(s)`);
        for (const name of children.slice(1)) {
          if (this.stopping) return;
          try {
            await this.node.ike.createChild(sa.id, name);
          } catch (e) {
            this.log.log("CHD", 0, `establishing CHILD_SA ${name} of connection ${conn} failed: ${(e as Error).message}`);
          }
        }
      },
      (e: Error) => {
        if (this.stopping) return;
        const tries = c.keyingtries;
        if (tries !== 0 && attempt >= tries) {
          this.log.log("IKE", 0, `establishing connection ${conn} failed: ${e.message}; giving up after ${attempt} attempt(s) (keyingtries = ${tries})`);
          return;
        }
        const ms = retryDelayMs(attempt);
        this.log.log("IKE", 0, `establishing connection ${conn} failed: ${e.message}; retrying in ${ms / 1000}s`);
        this.initiateLater(conn, children, ms, attempt + 1);
      },
    );
  }

  private initiateLater(conn: string, children: string[], ms: number, attempt = 1): void {
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      // The peer may have come back and initiated first (a restarted initiator): no duplicate.
      const up = this.node.ike.list().find((s) => s.connection === conn && s.state === "established" && s.children.some((c) => c.name === children[0]));
      if (up) this.log.log("IKE", 1, `connection ${conn} is up again (IKE_SA ${up.id}): not initiating`);
      else this.initiate(conn, children, attempt);
    }, ms);
    this.retryTimers.add(t);
  }

  /** Terminate the IKE_SAs of a connection (or all): the peer is told. */
  async terminate(connection?: string): Promise<number> {
    const sas = this.node.ike.list().filter((s) => !connection || s.connection === connection);
    await Promise.all(sas.map((s) => this.node.ike.deleteIkeSa(s.id)));
    return sas.length;
  }

  // ── control socket ──
  private async listen(): Promise<void> {
    const path = this.socketPath;
    if (existsSync(path)) {
      const alive = await new Promise<boolean>((resolve) => {
        const c = connect(path);
        c.once("connect", () => {
          c.destroy();
          resolve(true);
        });
        c.once("error", () => resolve(false));
      });
      if (alive) throw new IpsecError("ERR_CONFIG", `another daemon answers on the control socket ${path}`);
      unlinkSync(path);
    }
    const server = createServer((s) => this.onClient(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => reject(new IpsecError("ERR_CONFIG", `cannot listen on the control socket ${path}: ${e.code ?? e.message}`)));
      server.listen(path, () => resolve());
    });
    try {
      chmodSync(path, 0o600);
    } catch {
      /* best effort */
    }
    this.server = server;
  }

  private onClient(s: NetSocket): void {
    let buf = "";
    s.setEncoding("utf8");
    s.on("error", () => undefined);
    s.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > 65536) return s.destroy();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) void this.command(line).then((reply) => s.write(JSON.stringify(reply) + "\n"));
      }
    });
  }

  private async command(line: string): Promise<{ ok: boolean; result?: unknown; error?: string }> {
    let req: { command?: string; ike?: string };
    try {
      req = line.startsWith("{") ? JSON.parse(line) : { command: line };
    } catch {
      return { ok: false, error: "not a JSON line" };
    }
    switch (req.command) {
      case "status":
        return { ok: true, result: this.status() };
      case "down":
        if (req.ike) {
          if (!this.config.connections[req.ike]) return { ok: false, error: `no connection '${req.ike}'` };
          const n = await this.terminate(req.ike);
          return { ok: true, result: { terminated: n } };
        }
        setImmediate(() => void this.stop("down requested on the control socket"));
        return { ok: true, result: { stopping: true } };
      default:
        return { ok: false, error: `unknown command '${String(req.command)}' (known: status, down)` };
    }
  }

  // ── status ──
  status(): DaemonStatus {
    const now = Date.now();
    const secs = (t: number) => Math.floor((now - t) / 1000);
    const counters = (h: SaHandle | undefined, spi: number): SaCounters | undefined => {
      if (!h) return undefined;
      try {
        const s = this.dp.esp.stats(h);
        const drops: Record<string, number> = {};
        for (const [k, v] of Object.entries(s.drops)) drops[k] = Number(v);
        return { spi: hex8(spi), bytes: Number(s.octets), packets: Number(s.packets), ...(h.direction === "out" ? { sequence: Number(s.sequence) } : {}), drops };
      } catch {
        return undefined;
      }
    };
    const sas: IkeStatus[] = this.node.ike.list().map((sa) => {
      const conn = this.config.connections[sa.connection];
      const up = this.ikeUp.get(sa.id);
      return {
        connection: sa.connection,
        uniqueId: sa.id,
        state: sa.state.toUpperCase(),
        version: 2,
        initiator: sa.initiator,
        spiI: sa.spiI,
        spiR: sa.spiR,
        local: `${sa.local.address}[${sa.local.port}]`,
        remote: `${sa.remote.address}[${sa.remote.port}]`,
        natt: sa.natt,
        algorithm: [ENCR_NAMES[sa.encr]?.replace(/^ENCR_/, ""), PRF_NAMES[sa.prf], dhName(sa.group)].filter(Boolean).join("/"),
        ...(up ? { establishedSecondsAgo: secs(up) } : {}),
        children: sa.children.map((c) => {
          const t = this.children.get(c.spiIn);
          const conf = conn?.children[c.name];
          const age = t ? secs(t.installed) : 0;
          return {
            name: c.name,
            uniqueId: sa.id,
            state: "INSTALLED" as const,
            mode: c.mode === "tunnel" ? ("TUNNEL" as const) : ("TRANSPORT" as const),
            protocol: "ESP" as const,
            encap: sa.natt,
            // As swanctl --list-sas: AES_GCM_16-128[/ECP_256 with PFS][/ESN].
            algorithm: `${ENCR_NAMES[c.encr]?.replace(/^ENCR_/, "") ?? `ENCR_${c.encr}`}${c.keyLen ? `-${c.keyLen}` : ""}` + (c.dhGroup ? `/${dhName(c.dhGroup)}` : "") + (c.esn ? "/ESN" : ""),
            esn: c.esn,
            ...(c.dhGroup ? { dhGroup: dhName(c.dhGroup) } : {}),
            localTs: prefixTs(c.localTs),
            remoteTs: prefixTs(c.remoteTs),
            ...(c.tunnel ? { tunnel: c.tunnel } : {}),
            installedSecondsAgo: age,
            ...(conf && conf.rekey_time > 0 ? { rekeyInSeconds: Math.max(0, conf.rekey_time - age) } : {}),
            ...(conf && conf.life_time > 0 ? { expiresInSeconds: Math.max(0, conf.life_time - age) } : {}),
            in: counters(t?.inbound, c.spiIn),
            out: counters(t?.outbound, c.spiOut),
          };
        }),
      };
    });
    const tunnels: TunnelStatus[] = [];
    for (const rt of this.tunnels.values()) {
      const s = this.dp.tunnelByIndex(rt.index);
      if (!s) continue;
      const cfg = this.config.tunnels[s.name];
      tunnels.push({
        name: s.name,
        ifname: rt.ifname,
        up: !!rt.tun?.open && !!rt.configured,
        local: cfg.local,
        remote: cfg.remote,
        address: cfg.address ? `${cfg.address.address}/${cfg.address.length}` : `${linkLocal(cfg.local)}/64`,
        routes: cfg.routes.map((p) => `${p.address}/${p.length}`),
        mtu: cfg.mtu,
        policy: s.policy.toUpperCase(),
        ...(cfg.protected_by.length ? { protectedBy: cfg.protected_by.join(",") } : {}),
        ...(s.outboundSa ? { outboundSpi: hex8(s.outboundSa.spi) } : {}),
        ...(rt.tun ? { tun: { ...rt.tun.stats } } : {}),
      });
    }
    const drops: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.dp.drops())) drops[k] = Number(v);
    const st = this.node.stats;
    const rawStats = [this.rawEsp, this.raw41].filter((x): x is RawSocket => !!x).map((r) => r.stats);
    return {
      pid: process.pid,
      uptimeSeconds: secs(this.started),
      config: this.opt.configFile,
      socket: this.socketPath,
      addon: this.addonResult.ok ? { loaded: true, path: this.addonResult.path } : { loaded: false, reason: this.addonResult.reason },
      udp: { address: this.opt.address ?? localAddress(this.config), ikePort: this.node.ikePort, nattPort: this.node.nattPort, ikeIn: st.ikeIn, espIn: st.espIn, espOut: st.espOut, keepalives: st.keepalives, sendErrors: st.sendErrors },
      raw: {
        esp: !!this.rawEsp,
        ipv6inipv4: !!this.raw41,
        ...(this.rawReason ? { reason: this.rawReason } : {}),
        rxPackets: rawStats.reduce((n, s) => n + s.rxPackets, 0),
        txPackets: rawStats.reduce((n, s) => n + s.txPackets, 0),
        txErrors: rawStats.reduce((n, s) => n + s.txErrors, 0),
      },
      tunnels,
      sas,
      drops,
    };
  }

  // ── stopping ──
  /** Delete every IKE_SA (telling the peers), remove the TUN devices, close the sockets. Idempotent. */
  stop(reason = "stopped"): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.log.log("DMN", 0, `shutting down: ${reason}`);
        for (const t of this.retryTimers) clearTimeout(t);
        this.retryTimers.clear();
        for (const c of this.children.values()) if (c.rekeyTimer) clearTimeout(c.rekeyTimer);
        const n = this.node.ike.list().length;
        if (n) this.log.log("IKE", 0, `deleting ${n} IKE_SA(s)`);
        await this.teardown();
        this.log.log("DMN", 0, "ipsec6in4 stopped");
        this.resolveDone(this.exitCode);
      })();
    }
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    try {
      await this.node.close();
    } catch (e) {
      this.log.log("IKE", 0, `closing IKE: ${(e as Error).message}`);
    }
    for (const rt of this.tunnels.values()) {
      if (rt.tun) {
        rt.tun.close();
        rt.tun = undefined;
        this.log.log("KNL", 1, `removed TUN device ${rt.ifname}`);
      }
    }
    this.rawEsp?.close();
    this.raw41?.close();
    this.rawRx?.destroy();
    this.rawRx = undefined;
    if (this.server) {
      const s = this.server;
      this.server = undefined;
      await new Promise<void>((r) => s.close(() => r()));
      try {
        unlinkSync(this.socketPath);
      } catch {
        /* gone */
      }
    }
  }
}

// ───────────────────────────── helpers ─────────────────────────────

/** "2001:db8:a::..2001:db8:a:0:ffff:ffff:ffff:ffff" → "2001:db8:a::/64"; single addresses get /32 or /128 (as swanctl prints). */
export function prefixTs(text: string): string {
  return text
    .split(", ")
    .map((item) => {
      const m = /^([^\[]+?)(?:\.\.([^\[]+))?(\[\d+\])?$/.exec(item);
      if (!m) return item;
      const a = parseIp(m[1]);
      const b = parseIp(m[2] ?? m[1]);
      if (!a || !b || a.family !== b.family) return item;
      const bits = a.family === 4 ? 32 : 128;
      const lo = toBig(a.bytes);
      const span = toBig(b.bytes) - lo + 1n;
      let len = bits;
      while (len > 0 && 1n << BigInt(bits - len) < span) len--;
      if (1n << BigInt(bits - len) !== span || lo % span !== 0n) return item;
      return `${m[1]}/${len}${m[3] ?? ""}`;
    })
    .join(", ");
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

function specText(s: { kind: string; address?: string; length?: number; name?: string; from?: string; to?: string }): string {
  if (s.kind === "address") return s.address!;
  if (s.kind === "subnet") return `${s.address}/${s.length}`;
  if (s.kind === "range") return `${s.from}-${s.to}`;
  if (s.kind === "fqdn") return s.name!;
  return "%any";
}

/** The single local IPv4 address the sockets bind: from local_addrs, else the tunnels' local endpoint. */
export function localAddress(config: Config): string {
  const found = new Set<string>();
  for (const c of Object.values(config.connections)) for (const a of c.local_addrs) if (a.kind === "address" && a.family === 4) found.add(a.address);
  if (found.size === 0) for (const t of Object.values(config.tunnels)) if (t.local) found.add(t.local);
  if (found.size === 1) return [...found][0];
  if (found.size === 0) throw new IpsecError("ERR_CONFIG", "no local IPv4 address in the configuration (local_addrs or a tunnel's local): pass --address");
  throw new IpsecError("ERR_CONFIG", `several local IPv4 addresses (${[...found].join(", ")}): one daemon binds one; pass --address`);
}

/** RFC 4213 3.7: fe80::/64 with the IPv4 address as interface identifier. */
function linkLocal(v4: string): string {
  const b = v4.split(".").map(Number);
  return `fe80::${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
}

/** A DH group as swanctl --list-sas names it (ECP_256, MODP_3072, CURVE_25519, CURVE_448). */
function dhName(group: number): string {
  return (DH_NAMES[group] ?? `DH_${group}`).replace(/^CURVE(\d+)$/, "CURVE_$1");
}
