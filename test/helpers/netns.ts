/**
 * Network namespaces, veth pairs, temp dirs and child processes for interop tests, with
 * cleanup that runs whatever happens: `lab.cleanup()` (call it from afterAll/afterEach),
 * and, as a backstop, a process 'exit' hook and SIGINT/SIGTERM/SIGHUP handlers that
 * remove everything every NetLab of this process created. Cleanup is synchronous and
 * idempotent: each resource is removed at most once and errors are ignored.
 *
 * Names are unique per process and lab (parallel vitest workers never collide):
 *   namespaces      i6t-<pid base36>-<lab>-<tag>        (any length)
 *   root-side veth  i6t<pid36><lab><n>                  (<= 15 chars: IFNAMSIZ)
 *   temp dirs       $TMPDIR/i6t-<pid36>-<lab>-XXXXXX
 * `sweepStale()` removes such leftovers of processes that are no longer alive (a worker
 * killed with SIGKILL cannot clean up after itself); `NetLab` runs it once per process.
 *
 * Everything here needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2; see netnsSkipReason().
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "i6t";
const PID36 = process.pid.toString(36);
const NETNS_DIR = "/run/netns";

export interface ExecResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function sh(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number; input?: string } = {}): ExecResult {
  const r: SpawnSyncReturns<string> = spawnSync(argv[0], argv.slice(1), {
    encoding: "utf8",
    env: opts.env ?? process.env,
    timeout: opts.timeout ?? 30_000,
    input: opts.input,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

/** Run `argv`, throw with its stderr if it fails; returns stdout. */
export function run(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): string {
  const r = sh(argv, opts);
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Why network namespaces cannot be used here (not root, no iproute2, …), or undefined. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "network namespaces need root";
  if (sh(["sh", "-c", "command -v ip && command -v unshare"]).status !== 0) return "iproute2 (ip) or util-linux (unshare) missing";
  const probe = `${PREFIX}-${PID36}-probe`;
  const r = netnsAdd(probe);
  sh(["ip", "netns", "del", probe]);
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()}`;
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** PIDs of processes inside network namespace `ns`. */
export function netnsPids(ns: string): number[] {
  const r = sh(["ip", "netns", "pids", ns]);
  return r.status === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

function killNetns(ns: string): void {
  for (const pid of netnsPids(ns)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  sh(["ip", "netns", "del", ns]);
}

/** Remove namespaces, root-side veths and temp dirs left by dead processes of this harness. */
export function sweepStale(): void {
  const deadOwner = (pid36: string) => {
    const pid = parseInt(pid36, 36);
    return Number.isFinite(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
  };
  const list = sh(["ip", "netns", "list"]);
  let sweptNetns = false;
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0];
    const m = /^i6t-([0-9a-z]+)-/.exec(name ?? "");
    if (m && deadOwner(m[1])) {
      killNetns(name);
      sweptNetns = true;
    }
  }
  // If only our leftovers kept /run/netns alive, it is ours to remove at the end.
  if (sweptNetns && existsSync(NETNS_DIR) && readdirSync(NETNS_DIR).length === 0) {
    try {
      writeFileSync(NETNS_MARKER, "", { flag: "wx" });
    } catch {
      /* already marked */
    }
  }
  // Root-side veths are removed with their peer's namespace; this catches any whose peer was also in the root.
  const links = sh(["ip", "-o", "link", "show"]);
  for (const m of links.stdout.matchAll(/^\d+: (i6t[0-9a-z]+)[@:]/gm)) {
    const owner = readOwnerOfLink(m[1]);
    if (owner !== undefined && deadOwner(owner)) sh(["ip", "link", "del", m[1]]);
  }
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    /* no tmp */
  }
  for (const e of entries) {
    const m = /^i6t-([0-9a-z]+)-/.exec(e);
    if (m && deadOwner(m[1])) rmSync(join(tmpdir(), e), { recursive: true, force: true });
    if (e.startsWith("i6t.addr-")) {
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(tmpdir(), e, "owner"), "utf8"));
      } catch {
        /* half-written */
      }
      if (Number.isFinite(owner) && owner > 0 && !pidAlive(owner)) rmSync(join(tmpdir(), e), { recursive: true, force: true });
    }
  }
}

/** Root-side veths carry their owner's pid in the link alias (names are too short for it reliably). */
function readOwnerOfLink(ifname: string): string | undefined {
  const r = sh(["ip", "-o", "link", "show", "dev", ifname]);
  const m = /alias i6t-owner-([0-9a-z]+)/.exec(r.stdout);
  return m?.[1];
}

/**
 * Address pairs [root side, namespace side] tried by NetLab.rootVeth(), in order. All are
 * documentation addresses (RFC 5737); 192.0.2.0/24 comes last because it is often a machine's
 * own uplink in sandboxes (it is on the development machine).
 */
export const ROOT_PAIR_CANDIDATES: readonly (readonly [string, string])[] = [
  ["198.51.100.1", "198.51.100.2"],
  ["198.51.100.5", "198.51.100.6"],
  ["198.51.100.9", "198.51.100.10"],
  ["198.51.100.13", "198.51.100.14"],
  ["203.0.113.1", "203.0.113.2"],
  ["203.0.113.5", "203.0.113.6"],
  ["192.0.2.1", "192.0.2.2"],
];

/**
 * Would putting `addr` on a root-namespace veth disturb the machine? True if it is already
 * local, on-link (inside a connected subnet) or a gateway of some route in the root namespace.
 */
export function rootConflict(addr: string): boolean {
  const routes = sh(["ip", "-4", "route", "show", "table", "all"]).stdout;
  if (routes.split("\n").some((l) => new RegExp(`\\bvia ${addr.replace(/\./g, "\\.")}\\b`).test(l))) return true;
  const r = sh(["ip", "-4", "-o", "route", "get", addr]);
  if (r.status !== 0) return false; // unreachable: nothing uses it
  return !/\bvia\b/.test(r.stdout); // local or directly connected
}

// ---- process-wide registry for the exit hook ----

const labs = new Set<NetLab>();
let hooksInstalled = false;
let swept = false;
/**
 * /run/netns is created (and bind-mounted on itself) by the first `ip netns add`. If it is not
 * there when this module loads, leave a marker (shared by parallel workers) so whoever finds it
 * empty at the end removes it again.
 */
const NETNS_MARKER = join(tmpdir(), `${PREFIX}.run-netns-is-ours`);
function markNetnsDir(): void {
  if (existsSync(NETNS_DIR)) return;
  try {
    writeFileSync(NETNS_MARKER, "", { flag: "wx" });
  } catch {
    /* already marked */
  }
}

/** `ip netns add NAME`, remembering whether that creates /run/netns. */
function netnsAdd(name: string): ExecResult {
  markNetnsDir();
  return sh(["ip", "netns", "add", name]);
}

function cleanupEverything(): void {
  for (const lab of [...labs]) lab.cleanup();
  restoreNetnsDir();
}

/** `ip netns add` creates and bind-mounts /run/netns; if it was absent before us and is empty now, undo that. */
function restoreNetnsDir(): void {
  if (!existsSync(NETNS_MARKER)) return;
  if (!existsSync(NETNS_DIR)) {
    rmSync(NETNS_MARKER, { force: true });
    return;
  }
  try {
    if (readdirSync(NETNS_DIR).length > 0) return;
  } catch {
    return;
  }
  sh(["umount", NETNS_DIR]);
  try {
    rmdirSync(NETNS_DIR); // fails harmlessly if another worker just created a namespace
    rmSync(NETNS_MARKER, { force: true });
  } catch {
    /* busy or not empty */
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", cleanupEverything);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = () => {
      cleanupEverything();
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** One network namespace of a lab. */
export class Netns {
  constructor(
    readonly name: string,
    private readonly lab: NetLab,
  ) {}

  /** argv prefixed with `ip netns exec NAME`. */
  argv(argv: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...argv];
  }

  /** Run a command inside the namespace synchronously (never throws). */
  exec(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number; input?: string } = {}): ExecResult {
    return sh(this.argv(argv), opts);
  }

  /** Run a command inside the namespace; throw with stderr if it fails; returns stdout. */
  run(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): string {
    return run(this.argv(argv), opts);
  }

  /** Run a command inside the namespace asynchronously (never rejects; bounded by timeout). */
  execAsync(argv: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = spawn("ip", this.argv(argv).slice(1), {
        env: opts.env ?? process.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const untrack = this.lab.track(child);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => (stdout += d));
      child.stderr!.on("data", (d) => (stderr += d));
      const t = setTimeout(() => child.kill("SIGKILL"), opts.timeout ?? 30_000);
      child.on("close", (status) => {
        clearTimeout(t);
        untrack();
        resolve({ status, stdout, stderr });
      });
      child.on("error", (e) => {
        clearTimeout(t);
        untrack();
        resolve({ status: -1, stdout, stderr: stderr + String(e) });
      });
    });
  }

  /** Start a long-running process inside the namespace; it is killed (SIGKILL) by cleanup. */
  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn("ip", this.argv(argv).slice(1), { stdio: "ignore", ...opts });
    this.lab.track(child);
    return child;
  }

  /** `ip -n NAME …` */
  ip(...args: string[]): string {
    return run(["ip", "-n", this.name, ...args]);
  }
}

export interface VethEnd {
  /** namespace, or undefined for the root namespace (the vitest process's own) */
  ns?: Netns;
  /** interface name (inside its namespace) */
  ifname: string;
}

export interface VethOptions {
  /** name inside the namespace (default eth-<tag>); root-side names are always generated */
  nameA?: string;
  nameB?: string;
  /** addresses with prefix, e.g. "192.0.2.1/24" */
  addrA?: string[];
  addrB?: string[];
  /** disable IPv6 (no link-local, no DAD, no router solicitations) on a root-namespace end; default true */
  quietRootIpv6?: boolean;
}

/**
 * A set of namespaces/veths/temp dirs/processes that belong together. Create one per test file
 * (in beforeAll) and call cleanup() in afterAll; everything is also removed on process exit.
 */
export class NetLab {
  private static seq = 0;
  readonly id: string;
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private readonly dirs: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly cleanups: (() => void)[] = [];
  private readonly locks: string[] = [];
  private linkSeq = 0;
  private cleaned = false;

  constructor() {
    this.id = (NetLab.seq++).toString(36) + Math.floor(Math.random() * 36 * 36).toString(36).padStart(2, "0");
    installHooks();
    if (!swept) {
      swept = true;
      sweepStale();
    }
    labs.add(this);
  }

  /** A new namespace (lo up). `tag` is a short label that shows up in the name. */
  ns(tag: string): Netns {
    if (this.cleaned) throw new Error("NetLab already cleaned up");
    const name = `${PREFIX}-${PID36}-${this.id}-${tag}`;
    const r = netnsAdd(name);
    if (r.status !== 0) throw new Error(`ip netns add ${name} failed: ${r.stderr.trim()}`);
    this.namespaces.push(name);
    run(["ip", "-n", name, "link", "set", "lo", "up"]);
    return new Netns(name, this);
  }

  /**
   * A veth pair between `a` and `b` (undefined = root namespace), both ends up, with optional
   * addresses. Root-side names are generated (i6t…, unique, <= 15 chars).
   */
  veth(a: Netns | undefined, b: Netns | undefined, opts: VethOptions = {}): [VethEnd, VethEnd] {
    if (this.cleaned) throw new Error("NetLab already cleaned up");
    const n = this.linkSeq++;
    const rootName = (side: string) => `${PREFIX}${PID36}${this.id}${n}${side}`.slice(0, 15);
    // Create both ends in the root namespace under unique names, then move and rename.
    const tmpA = rootName("a");
    const tmpB = rootName("b");
    run(["ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB]);
    const ends: [VethEnd, VethEnd] = [
      { ns: a, ifname: a ? (opts.nameA ?? `veth${n}a`) : tmpA },
      { ns: b, ifname: b ? (opts.nameB ?? `veth${n}b`) : tmpB },
    ];
    if (!a || !b) this.rootLinks.push(!a ? tmpA : tmpB);
    else this.rootLinks.push(tmpA); // until moved; deleting a missing link is harmless
    for (const [end, tmp] of [
      [ends[0], tmpA],
      [ends[1], tmpB],
    ] as const) {
      if (end.ns) {
        run(["ip", "link", "set", tmp, "netns", end.ns.name]);
        if (end.ifname !== tmp) run(["ip", "-n", end.ns.name, "link", "set", tmp, "name", end.ifname]);
      } else {
        run(["ip", "link", "set", tmp, "alias", `i6t-owner-${PID36}`]);
        if (opts.quietRootIpv6 !== false) {
          try {
            writeFileSync(`/proc/sys/net/ipv6/conf/${tmp}/disable_ipv6`, "1");
          } catch {
            /* no IPv6 */
          }
        }
      }
    }
    const ipArgs = (end: VethEnd) => (end.ns ? ["ip", "-n", end.ns.name] : ["ip"]);
    for (const [end, addrs] of [
      [ends[0], opts.addrA],
      [ends[1], opts.addrB],
    ] as const) {
      for (const addr of addrs ?? []) run([...ipArgs(end), "addr", "add", ...addr.split(" "), "dev", end.ifname]);
      run([...ipArgs(end), "link", "set", end.ifname, "up"]);
    }
    return ends;
  }

  /**
   * A veth pair with one end in the root namespace (the vitest process's own) and the other in
   * `ns`, addressed point-to-point (`ip addr add ROOT peer NS`), so the root namespace only gains
   * one /32 and a host route. The pair is the first of `candidates` (default ROOT_PAIR_CANDIDATES)
   * whose two addresses are neither local, nor on-link, nor a gateway in the root namespace
   * (checked: on the development machine the uplink itself is eth0 192.0.2.2/24 via 192.0.2.1,
   * so 192.0.2.1/.2 must never go there) and not locked by a parallel worker: the lock is
   * $TMPDIR/i6t.addr-<root address>, stale if its owner pid is dead. Waits up to `lockTimeoutMs`
   * for a locked pair; throws if no candidate is usable at all.
   */
  async rootVeth(
    ns: Netns,
    opts: { candidates?: readonly (readonly [string, string])[]; nsIfname?: string; lockTimeoutMs?: number } = {},
  ): Promise<{ root: VethEnd; inner: VethEnd; rootAddr: string; nsAddr: string }> {
    const usable = (opts.candidates ?? ROOT_PAIR_CANDIDATES).filter(([a, b]) => !rootConflict(a) && !rootConflict(b));
    if (usable.length === 0) {
      throw new Error(`every candidate address pair clashes with the root namespace's addresses/routes: ${JSON.stringify(opts.candidates ?? ROOT_PAIR_CANDIDATES)}`);
    }
    const [rootAddr, nsAddr] = await this.lockAddress(usable, opts.lockTimeoutMs ?? 120_000);
    const [root, inner] = this.veth(undefined, ns, { nameB: opts.nsIfname ?? "eth0" });
    run(["ip", "addr", "add", rootAddr, "peer", nsAddr, "dev", root.ifname]);
    run(["ip", "-n", ns.name, "addr", "add", nsAddr, "peer", rootAddr, "dev", inner.ifname]);
    return { root, inner, rootAddr, nsAddr };
  }

  private async lockAddress(pairs: (readonly [string, string])[], timeoutMs: number): Promise<readonly [string, string]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const holders: string[] = [];
      for (const pair of pairs) {
        const lock = join(tmpdir(), `${PREFIX}.addr-${pair[0].replace(/[^0-9a-fA-F.]/g, "_")}`);
        try {
          mkdirSync(lock);
          writeFileSync(join(lock, "owner"), String(process.pid));
          this.locks.push(lock);
          return pair;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        let owner = NaN;
        try {
          owner = Number(readFileSync(join(lock, "owner"), "utf8"));
        } catch {
          /* being created or removed */
        }
        if (Number.isFinite(owner) && owner > 0 && !pidAlive(owner)) rmSync(lock, { recursive: true, force: true });
        holders.push(`${pair[0]} by pid ${owner}`);
      }
      if (Date.now() > deadline) throw new Error(`root-namespace address pairs all locked for more than ${timeoutMs} ms: ${holders.join(", ")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** A temp dir removed by cleanup. */
  tempDir(tag: string): string {
    if (this.cleaned) throw new Error("NetLab already cleaned up");
    const d = mkdtempSync(join(tmpdir(), `${PREFIX}-${PID36}-${this.id}-${tag}-`));
    this.dirs.push(d);
    return d;
  }

  /** Kill `child` (SIGKILL, whole process group if it leads one) at cleanup. Returns an untrack function. */
  track(child: ChildProcess): () => void {
    this.children.add(child);
    const untrack = () => this.children.delete(child);
    child.once("exit", untrack);
    return untrack;
  }

  /** Extra cleanup step, run first (LIFO) by cleanup(). Must be synchronous. */
  onCleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Remove everything; synchronous, idempotent, never throws. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    labs.delete(this);
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        /* keep going */
      }
    }
    for (const c of this.children) {
      try {
        if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      } catch {
        /* gone */
      }
    }
    this.children.clear();
    for (const ns of this.namespaces.reverse()) killNetns(ns);
    for (const l of this.rootLinks) sh(["ip", "link", "del", l]);
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    for (const l of this.locks) rmSync(l, { recursive: true, force: true });
    if (labs.size === 0) restoreNetnsDir();
  }
}

/** Poll `pred` every `intervalMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(pred: () => T | Promise<T>, timeoutMs: number, what: () => string, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
