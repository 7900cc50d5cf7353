/**
 * `ipsec6in4 up | status | down`: the daemon and its control socket from the command line.
 *
 *   up <config> [--socket PATH] [--debug N] [--address A] [--ike-port N] [--natt-port N]
 *               [--ifname TUNNEL=DEV]... [--raw auto|on|off] [--on-tun-loss exit|recreate]
 *               [--retransmit-timeout S] [--retransmit-base F] [--retransmit-tries N]
 *        run the daemon in the foreground until SIGINT/SIGTERM or `down`; logs on stderr
 *   status [--json] [--socket PATH]
 *        IKE_SAs and CHILD_SAs (SPIs, selectors, algorithms, counters, lifetimes), tunnels,
 *        drop counters, like `swanctl --list-sas`
 *   down [--ike NAME] [--socket PATH]
 *        stop the daemon (SAs deleted, interfaces removed), or only terminate one connection
 *
 * Each returns its exit status: 0 fine, 1 failed, 2 usage.
 */
import { Daemon, type DaemonOptions, type DaemonStatus, type IkeStatus, type SaCounters } from "./daemon.js";
import { controlRequest, DEFAULT_SOCKET } from "./control.js";
import { IpsecError } from "./errors.js";

type Out = (s: string) => void;

class Usage extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

function parseArgs(args: string[], valued: string[], bare: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (bare.includes(name)) {
      if (eq > 0) throw new Usage(`--${name} takes no value`);
      flags.set(name, ["true"]);
    } else if (valued.includes(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new Usage(`--${name} needs a value`);
      flags.set(name, [...(flags.get(name) ?? []), v]);
    } else throw new Usage(`unknown option '${a}'`);
  }
  return { positional, flags };
}

function one(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  if (v && v.length > 1) throw new Usage(`--${name} given more than once`);
  return v?.[0];
}

function int(p: Parsed, name: string, lo: number, hi: number): number | undefined {
  const v = one(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new Usage(`--${name} must be an integer from ${lo} to ${hi}, not '${v}'`);
  return Number(v);
}

function choice<T extends string>(p: Parsed, name: string, options: readonly T[]): T | undefined {
  const v = one(p, name);
  if (v !== undefined && !options.includes(v as T)) throw new Usage(`--${name} must be one of ${options.join(", ")}, not '${v}'`);
  return v as T | undefined;
}

/** A decimal number in [lo, hi] (strongswan.conf's retransmit_timeout and retransmit_base are such). */
function num(p: Parsed, name: string, lo: number, hi: number): number | undefined {
  const v = one(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < lo || Number(v) > hi) throw new Usage(`--${name} must be a number from ${lo} to ${hi}, not '${v}'`);
  return Number(v);
}

const UP_USAGE =
  "usage: ipsec6in4 up <config> [--socket PATH] [--debug 0-4] [--address IPv4] [--ike-port N] [--natt-port N] [--ifname TUNNEL=DEV]... [--raw auto|on|off] [--on-tun-loss exit|recreate]" +
  " [--retransmit-timeout SECONDS] [--retransmit-base FACTOR] [--retransmit-tries N]\n";

/** Run the daemon in the foreground. Resolves with the exit status when it has stopped. */
export async function upCommand(args: string[], out: Out, err: Out): Promise<number> {
  let opt: DaemonOptions;
  try {
    const p = parseArgs(args, ["socket", "debug", "address", "ike-port", "natt-port", "ifname", "raw", "on-tun-loss", "retransmit-timeout", "retransmit-base", "retransmit-tries"], []);
    if (p.positional.length !== 1) throw new Usage(p.positional.length ? `one configuration file, not ${p.positional.length} arguments` : "which configuration file?");
    const ifnames: Record<string, string> = {};
    for (const s of p.flags.get("ifname") ?? []) {
      const m = /^([^=]+)=(.+)$/.exec(s);
      if (!m) throw new Usage(`--ifname takes TUNNEL=DEVICE, not '${s}'`);
      ifnames[m[1]] = m[2];
    }
    opt = {
      configFile: p.positional[0],
      socket: one(p, "socket") ?? DEFAULT_SOCKET,
      logLevel: int(p, "debug", 0, 4),
      address: one(p, "address"),
      ikePort: int(p, "ike-port", 0, 65535),
      nattPort: int(p, "natt-port", 0, 65535),
      ifnames,
      raw: choice(p, "raw", ["auto", "on", "off"] as const),
      onTunLoss: choice(p, "on-tun-loss", ["exit", "recreate"] as const),
      logWrite: err,
    };
    // charon.retransmit_timeout / _base / _tries of strongswan.conf (defaults 4 s, 1.8, 5): how
    // long an unanswered request (a liveness check too) is retried before the peer counts as dead.
    const timeout = num(p, "retransmit-timeout", 0.01, 3600);
    const base = num(p, "retransmit-base", 1, 10);
    const tries = int(p, "retransmit-tries", 0, 100);
    if (timeout !== undefined || base !== undefined || tries !== undefined) opt.retransmit = { timeout: timeout === undefined ? undefined : Math.round(timeout * 1000), base, tries };
  } catch (e) {
    if (e instanceof Usage) {
      err(`ipsec6in4 up: ${e.message}\n${UP_USAGE}`);
      return 2;
    }
    throw e;
  }
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(opt);
  } catch (e) {
    err(`ipsec6in4 up: ${e instanceof IpsecError ? e.message : (e as Error).message}\n`);
    return 1;
  }
  void out;
  const onSignal = (sig: NodeJS.Signals) => void daemon.stop(`received ${sig}`);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await daemon.done;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** `status [--json]`: what the daemon has, like `swanctl --list-sas`. */
export async function statusCommand(args: string[], out: Out, err: Out): Promise<number> {
  let p: Parsed;
  try {
    p = parseArgs(args, ["socket"], ["json"]);
    if (p.positional.length) throw new Usage(`unexpected argument '${p.positional[0]}'`);
  } catch (e) {
    if (!(e instanceof Usage)) throw e;
    err(`ipsec6in4 status: ${e.message}\nusage: ipsec6in4 status [--json] [--socket PATH]\n`);
    return 2;
  }
  try {
    const r = await controlRequest<DaemonStatus>({ command: "status" }, one(p, "socket") ?? DEFAULT_SOCKET);
    if (!r.ok || !r.result) {
      err(`ipsec6in4 status: ${r.error ?? "the daemon gave no status"}\n`);
      return 1;
    }
    out(p.flags.has("json") ? JSON.stringify(r.result, null, 2) + "\n" : formatStatus(r.result));
    return 0;
  } catch (e) {
    err(`ipsec6in4 status: ${(e as Error).message}\n`);
    return 1;
  }
}

/** `down [--ike NAME]`: stop the daemon (and wait until it is gone), or terminate one connection. */
export async function downCommand(args: string[], out: Out, err: Out): Promise<number> {
  let p: Parsed;
  try {
    p = parseArgs(args, ["socket", "ike"], []);
    if (p.positional.length) throw new Usage(`unexpected argument '${p.positional[0]}'`);
  } catch (e) {
    if (!(e instanceof Usage)) throw e;
    err(`ipsec6in4 down: ${e.message}\nusage: ipsec6in4 down [--ike NAME] [--socket PATH]\n`);
    return 2;
  }
  const socket = one(p, "socket") ?? DEFAULT_SOCKET;
  const ike = one(p, "ike");
  try {
    const r = await controlRequest<{ terminated?: number; stopping?: boolean }>({ command: "down", ...(ike ? { ike } : {}) }, socket, 15_000);
    if (!r.ok) {
      err(`ipsec6in4 down: ${r.error}\n`);
      return 1;
    }
    if (ike) {
      out(`terminated ${r.result?.terminated ?? 0} IKE_SA(s) of ${ike}\n`);
      return 0;
    }
    // Wait until the daemon has deleted its SAs and closed the socket.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await controlRequest({ command: "status" }, socket, 1000);
      } catch {
        break;
      }
      if (Date.now() > deadline) {
        err(`ipsec6in4 down: the daemon at ${socket} is still running after 15 s\n`);
        return 1;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    out("daemon stopped: IKE_SAs deleted, tunnel interfaces removed\n");
    return 0;
  } catch (e) {
    err(`ipsec6in4 down: ${(e as Error).message}\n`);
    return 1;
  }
}

// ───────────────────────────── text output ─────────────────────────────

function ago(s: number | undefined): string {
  return s === undefined ? "" : `${s}s ago`;
}

function counterLine(dir: "in " | "out", c: SaCounters | undefined): string {
  if (!c) return `    ${dir} (no counters)\n`;
  const drops = Object.entries(c.drops);
  return `    ${dir} ${c.spi}, ${String(c.bytes).padStart(9)} bytes, ${String(c.packets).padStart(7)} packets${c.sequence !== undefined && dir === "out" ? `, seq ${c.sequence}` : ""}${drops.length ? `, dropped ${drops.map(([k, v]) => `${k} ${v}`).join(", ")}` : ""}\n`;
}

function formatIke(sa: IkeStatus): string {
  let s = `${sa.connection}: #${sa.uniqueId}, ${sa.state}, IKEv2, ${sa.spiI}_i${sa.initiator ? "*" : ""} ${sa.spiR}_r${sa.initiator ? "" : "*"}\n`;
  s += `  local  ${sa.local}\n  remote ${sa.remote}${sa.natt ? " (UDP-encapsulated)" : ""}\n`;
  s += `  ${sa.algorithm}\n`;
  if (sa.establishedSecondsAgo !== undefined) s += `  established ${ago(sa.establishedSecondsAgo)}\n`;
  for (const c of sa.children) {
    s += `  ${c.name}: #${c.uniqueId}, ${c.state}, ${c.mode}${c.encap ? "-in-UDP" : ""}, ESP:${c.algorithm}${c.tunnel ? `, tunnel ${c.tunnel}` : ""}\n`;
    const life = [`installed ${ago(c.installedSecondsAgo)}`];
    if (c.rekeyInSeconds !== undefined) life.push(`rekeying in ${c.rekeyInSeconds}s`);
    if (c.expiresInSeconds !== undefined) life.push(`expires in ${c.expiresInSeconds}s`);
    s += `    ${life.join(", ")}\n`;
    s += counterLine("in ", c.in);
    s += counterLine("out", c.out);
    s += `    local  ${c.localTs}\n    remote ${c.remoteTs}\n`;
  }
  return s;
}

/** The text form of `status`. */
export function formatStatus(st: DaemonStatus): string {
  let s = "";
  for (const sa of st.sas) s += formatIke(sa);
  if (st.sas.length === 0) s += "no IKE_SAs\n";
  s += "tunnels:\n";
  for (const t of st.tunnels) {
    s += `  ${t.name}: ${t.ifname ?? "-"} ${t.up ? "up" : "DOWN"}, ${t.local} === ${t.remote}, ${t.policy}${t.protectedBy ? ` by ${t.protectedBy}` : ""}${t.outboundSpi ? `, out SPI ${t.outboundSpi}` : ""}\n`;
    s += `    ${t.address}, mtu ${t.mtu}${t.routes.length ? `, routes ${t.routes.join(" ")}` : ""}\n`;
    if (t.tun) s += `    tun read ${t.tun.rxPackets} packets ${t.tun.rxBytes} bytes, written ${t.tun.txPackets} packets ${t.tun.txBytes} bytes, write errors ${t.tun.txErrors}\n`;
  }
  s += `sockets: ${st.udp.address}[${st.udp.ikePort}] IKE, [${st.udp.nattPort}] NAT-T: ESP in ${st.udp.espIn}, out ${st.udp.espOut}, keepalives ${st.udp.keepalives}, send errors ${st.udp.sendErrors}\n`;
  s += `raw ESP: ${st.raw.esp ? `open (in ${st.raw.rxPackets}, out ${st.raw.txPackets}, errors ${st.raw.txErrors})` : `unavailable${st.raw.reason ? ` (${st.raw.reason})` : ""}`}\n`;
  const drops = Object.entries(st.drops);
  s += `drops: ${drops.length ? drops.map(([k, v]) => `${k} ${v}`).join(", ") : "none"}\n`;
  return s;
}
