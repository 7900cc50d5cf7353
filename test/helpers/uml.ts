/**
 * A User-Mode-Linux guest as a peer for interop tests: the Linux kernel's own ESP, XFRM and
 * sit (this machine's kernel has none of them), driven from the host.
 *
 * ======================================================================================
 * WHAT THIS IS (checked on Debian 12: user-mode-linux 6.1um4, guest kernel 6.1.176)
 * ======================================================================================
 * - Packages (ensureUml() via ensureDebian): user-mode-linux (/usr/bin/linux.uml and the
 *   modules under /usr/lib/uml/modules/<version>), kmod (insmod), busybox-static (poweroff),
 *   iproute2 (ip, also inside the guest), and strongSwan's charon/swanctl (ensureCharon()).
 * - The guest is an ordinary process tree started with `ip netns exec NS linux.uml …` in a
 *   namespace that holds a bridge; its network card `eth0=tuntap,TAP,MAC` is a TAP device
 *   created beforehand in that namespace and enslaved to the bridge (the newer "vector"
 *   transport received nothing). Anything else on the bridge (a veth to another namespace)
 *   talks to the guest's eth0 as to a host on the same Ethernet.
 * - Root filesystem = the host's, through hostfs, read-only (`root=/dev/root rootfstype=hostfs
 *   rootflags=/ ro`): the guest runs the host's own binaries (ip, ping, charon, swanctl).
 *   init is DIR/init (below); it mounts proc, sys, devtmpfs, tmpfs on /run and /tmp, then the
 *   exchange directory DIR read-write at the same path (`mount -t hostfs none DIR -o DIR`), so
 *   a path means the same file on both sides.
 * - Commands: the host writes DIR/cmd/N.sh (atomically, by rename); the guest's init runs the
 *   scripts in order, each under `timeout`, writing N.out (stdout+stderr) and then N.rc (by
 *   rename). One command at a time: run() calls are queued. A command that starts a daemon
 *   must detach it (`setsid … &` with its output redirected), as startCharon() does.
 * - Modules: no modprobe (the modules are not under /lib/modules), so insmod() loads them
 *   with their dependencies in order, read on the host from the guest kernel's modules.dep.
 *   `seqiv` (used by rfc4106(gcm(aes)) for ESP) fails to initialise without `drbg` loaded
 *   first: that is a run-time need, not a symbol dependency, so XFRM_MODULES lists it early.
 * - Inside the guest /run is its own tmpfs, so charon's pid file and vici socket
 *   (unix:///run/charon.vici) need no tricks; swanctl runs in the guest (a Unix socket on
 *   hostfs does not connect across). STRONGSWAN_CONF points into DIR; the log is DIR/charon.log.
 *   Plugins: kernel-netlink and NO kernel-libipsec, so SAs and policies go into the guest
 *   kernel's XFRM.
 * - Shut down: `shutdown()` asks init to `poweroff -f`, then SIGKILLs after a grace period.
 *   UML's helper processes survive a SIGKILL of its main process (checked), so the guest runs
 *   as PID 1 of a PID namespace of its own, `setpriv --pdeathsig SIGKILL -- unshare --pid
 *   --fork --kill-child=SIGKILL -- linux.uml …`: killing the unshare (or the test process
 *   dying, even by SIGKILL) kills UML's main process, and with it every process of the guest.
 *   NetLab.cleanup() (which kills every pid in its namespaces) is the backstop.
 * - Boot takes about 2 s on an idle machine and several times that when it is loaded; module
 *   loading about 4 s; charon's start about 1 s (measured on the 2-core development machine).
 *
 * API: ensureUml(), UmlGuest.boot(), and on a guest: run(), sh(), insmod(), startCharon(),
 * swanctl(), charonLog(), consoleTail(), shutdown().
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDebian } from "./apt.js";
import { ensureCharon, CHARON, strongswanConf, SWANCTL_DIRS } from "./charon.js";
import { waitFor, type NetLab, type Netns } from "./netns.js";

export const UML_KERNEL = "/usr/bin/linux.uml";
export const UML_MODULES = "/usr/lib/uml/modules";

/** ESP with AES-GCM (RFC 4106) in transport mode, XFRM netlink, and sit, in load order. */
export const XFRM_MODULES = ["ipv6", "xfrm_user", "gf128mul", "ghash-generic", "ctr", "gcm", "drbg", "seqiv", "echainiv", "hmac", "sha512_generic", "esp4", "sit"];

/** charon's plugins in the guest: XFRM through kernel-netlink, no kernel-libipsec. */
export const GUEST_CHARON_PLUGINS = "random nonce kdf openssl aes sha1 sha2 hmac gcm kernel-netlink socket-default vici";

/** Install UML, insmod, busybox, strongSwan and ping when missing (a skip reason, or undefined; throws in CI). */
export function ensureUml(): string | undefined {
  return (
    ensureDebian(UML_KERNEL, ["user-mode-linux"]) ??
    ensureDebian("/sbin/insmod", ["kmod"]) ??
    ensureDebian("/bin/busybox", ["busybox-static"]) ??
    ensureCharon()
  );
}

/** The guest kernel's version: the one directory under /usr/lib/uml/modules (`linux.uml --version` as a check). */
export function umlVersion(): string {
  const dirs = readdirSync(UML_MODULES).filter((d) => existsSync(join(UML_MODULES, d, "modules.dep")));
  const said = spawnSync(UML_KERNEL, ["--version"], { encoding: "utf8" }).stdout?.trim();
  const v = dirs.find((d) => d === said) ?? (dirs.length === 1 ? dirs[0] : undefined);
  if (!v) throw new Error(`cannot tell the UML kernel's modules: ${UML_KERNEL} --version says '${said}', ${UML_MODULES} has ${dirs.join(", ") || "nothing"}`);
  return v;
}

/**
 * Paths (relative to the modules directory) of `names` and everything they need, each after its
 * dependencies, from modules.dep (each line: `kernel/x.ko: dep.ko dep.ko…`).
 */
export function moduleLoadOrder(modulesDep: string, names: string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split("\n")) {
    const m = /^(\S+\.ko(?:\.\w+)?):\s*(.*)$/.exec(line);
    if (!m) continue;
    deps.set(m[1], m[2].split(/\s+/).filter(Boolean));
    const base = m[1].split("/").pop()!.replace(/\.ko(\.\w+)?$/, "");
    byName.set(base, m[1]);
    byName.set(base.replace(/-/g, "_"), m[1]);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const n of names) {
    const path = byName.get(n) ?? byName.get(n.replace(/-/g, "_"));
    if (!path) throw new Error(`no module '${n}' in modules.dep`);
    visit(path);
  }
  return order;
}

export interface UmlBootOptions {
  lab: NetLab;
  /** namespace that holds `bridge` */
  ns: Netns;
  bridge: string;
  /** TAP name in ns (default: generated, <= 15 characters) and the guest's eth0 MAC */
  tap?: string;
  mac?: string;
  memMb?: number;
  /** default 120 s: a loaded 2-core machine boots far slower than an idle one */
  bootTimeoutMs?: number;
}

export interface GuestResult {
  status: number;
  out: string;
}

let guestSeq = 0;

export class UmlGuest {
  /** Milliseconds from spawn to init's first sign of life. */
  bootMs = 0;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private console = "";
  private exited: { code: number | null; signal: string | null } | undefined;
  private readonly gone: Promise<void>;

  private constructor(
    readonly dir: string,
    readonly proc: ChildProcess,
    readonly ns: Netns,
    readonly tap: string,
  ) {
    proc.stdout?.setEncoding("utf8");
    proc.stderr?.setEncoding("utf8");
    const keep = (d: string) => (this.console = (this.console + d).slice(-64 * 1024));
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    this.gone = new Promise((r) => proc.once("exit", (code, signal) => ((this.exited = { code, signal }), r())));
  }

  /** Create the TAP on the bridge, boot the guest, wait for its init. Everything goes with lab.cleanup(). */
  static async boot(o: UmlBootOptions): Promise<UmlGuest> {
    const dir = o.lab.tempDir("uml");
    mkdirSync(join(dir, "cmd"));
    const tap = o.tap ?? `umltap${guestSeq++}`;
    o.ns.ip("tuntap", "add", tap, "mode", "tap");
    o.ns.ip("link", "set", tap, "master", o.bridge);
    o.ns.ip("link", "set", tap, "up");
    writeFileSync(join(dir, "init"), initScript(dir), { mode: 0o755 });
    const mac = o.mac ?? "02:00:00:00:00:02";
    const argv = [
      UML_KERNEL,
      `mem=${o.memMb ?? 128}M`,
      "root=/dev/root",
      "rootfstype=hostfs",
      "rootflags=/",
      "ro",
      `init=${join(dir, "init")}`,
      `eth0=tuntap,${tap},${mac}`,
      "con=null",
      "con0=null,fd:1",
      "quiet",
    ];
    const t0 = Date.now();
    // stdout is a pipe (UML's console cannot epoll a regular file). UML's helper processes
    // outlive a killed main process, so the guest runs as PID 1 of its own PID namespace
    // (when it dies, the kernel kills the rest), under an unshare that dies with the test
    // process (setpriv --pdeathsig) and takes the guest with it (--kill-child).
    const proc = o.ns.spawn(["setpriv", "--pdeathsig", "SIGKILL", "--", "unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--", ...argv], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const g = new UmlGuest(dir, proc, o.ns, tap);
    try {
      await waitFor(
        () => {
          if (g.exited) throw new Error(`the UML guest exited during boot (${JSON.stringify(g.exited)})\n${g.consoleTail()}`);
          return existsSync(join(dir, "ready"));
        },
        o.bootTimeoutMs ?? 120_000,
        () => `the UML guest's init (${join(dir, "ready")})\n${g.consoleTail()}`,
        100,
      );
    } catch (e) {
      await g.shutdown(0);
      throw e;
    }
    g.bootMs = Date.now() - t0;
    return g;
  }

  get running(): boolean {
    return !this.exited;
  }

  /**
   * Run a shell script in the guest (`sh` with `set -e`: the first failing command ends it);
   * resolves with its exit status and output. Past `timeoutMs` the guest kills it (status
   * 137). Rejects only if the guest is gone or does not answer at all.
   */
  sh(script: string, timeoutMs = 60_000): Promise<GuestResult> {
    const next = this.queue.then(() => this.exec(script, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Run a shell script in the guest (as sh() does); throws with the script and its output unless it exits 0; resolves to its output. */
  async run(script: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.sh(script, timeoutMs);
    if (r.status !== 0) throw new Error(`in the UML guest, exit ${r.status}:\n$ ${script.trim()}\n${r.out.trim()}`);
    return r.out;
  }

  private async exec(script: string, timeoutMs: number): Promise<GuestResult> {
    if (this.exited) throw new Error(`the UML guest is not running (${JSON.stringify(this.exited)})\n${this.consoleTail()}`);
    const n = String(++this.seq).padStart(4, "0");
    const base = join(this.dir, "cmd", n);
    // The guest enforces the time limit itself (`timeout` in init) so that its queue moves on.
    writeFileSync(`${base}.limit`, String(Math.ceil(timeoutMs / 1000)));
    writeFileSync(`${base}.tmp`, `set -e\n${script}\n`);
    renameSync(`${base}.tmp`, `${base}.sh`);
    await waitFor(
      () => {
        if (this.exited) throw new Error(`the UML guest exited while running:\n${script}\n${this.consoleTail()}`);
        return existsSync(`${base}.rc`);
      },
      timeoutMs + 15_000,
      () => `command ${n} in the UML guest:\n${script}\n${this.read(`${base}.out`)}\n${this.consoleTail()}`,
      25,
    );
    return { status: Number(this.read(`${base}.rc`).trim()), out: this.read(`${base}.out`) };
  }

  private read(path: string): string {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  }

  /** Load kernel modules (and their dependencies, in order) that are not loaded yet. */
  async insmod(names: string[]): Promise<void> {
    const dir = join(UML_MODULES, umlVersion());
    const order = moduleLoadOrder(readFileSync(join(dir, "modules.dep"), "utf8"), names);
    const lines = order.map((p) => {
      const name = p.split("/").pop()!.replace(/\.ko(\.\w+)?$/, "").replace(/-/g, "_");
      return `grep -q '^${name} ' /proc/modules || insmod ${join(dir, p)}`;
    });
    await this.run(lines.join("\n"), 120_000);
  }

  /**
   * Write DIR/strongswan.conf and start charon (kernel-netlink, no kernel-libipsec) detached in
   * the guest; resolves once its vici socket answers. `levels`: filelog levels (default
   * ike 2, chd 2, knl 2, cfg 2).
   */
  async startCharon(o: { levels?: Record<string, number>; charonOptions?: Record<string, string | number> } = {}): Promise<void> {
    const levels = { default: 1, ike: 2, chd: 2, knl: 2, cfg: 2, ...o.levels };
    const opts = {
      load: GUEST_CHARON_PLUGINS,
      install_virtual_ip: "no",
      send_vendor_id: "no",
      retransmit_timeout: "2.0",
      retransmit_base: "1.4",
      retransmit_tries: 4,
      ...o.charonOptions,
    };
    writeFileSync(join(this.dir, "strongswan.conf"), strongswanConf({ charon: opts, levels, logPath: this.charonLogPath, viciSocket: "/run/charon.vici" }));
    for (const d of SWANCTL_DIRS) mkdirSync(join(this.dir, "swanctl", d), { recursive: true });
    await this.run(
      `export STRONGSWAN_CONF=${this.dir}/strongswan.conf
setsid ${CHARON} </dev/null >${this.dir}/charon.out 2>&1 &
i=0
until swanctl --stats --uri unix:///run/charon.vici >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 600 ] || { echo "charon's vici socket never answered"; cat ${this.dir}/charon.out; exit 1; }
  sleep 0.1
done`,
      90_000,
    );
  }

  get charonLogPath(): string {
    return join(this.dir, "charon.log");
  }

  /** charon's log so far (DIR/charon.log). */
  charonLog(): string {
    return this.read(this.charonLogPath);
  }

  /** `swanctl ARGS` in the guest against its charon; throws with the output on failure. */
  swanctl(args: string, timeoutMs = 60_000): Promise<string> {
    return this.run(`STRONGSWAN_CONF=${this.dir}/strongswan.conf SWANCTL_DIR=${this.dir}/swanctl swanctl ${args} --uri unix:///run/charon.vici`, timeoutMs);
  }

  /** Write `conf` as DIR/swanctl.conf and load it (`swanctl --load-all`: replaces connections and secrets). */
  async loadSwanctl(conf: string): Promise<string> {
    writeFileSync(join(this.dir, "swanctl.conf"), conf);
    return this.swanctl(`--load-all --noprompt --file ${this.dir}/swanctl.conf`);
  }

  /** The last lines of the guest's console and charon's log, for error messages. */
  consoleTail(n = 30): string {
    const log = this.charonLog().split("\n").slice(-n).join("\n");
    return `--- UML console (tail) ---\n${this.console.split("\n").slice(-n).join("\n")}${log ? `\n--- guest charon.log (tail) ---\n${log}` : ""}`;
  }

  /** Ask init to power off; SIGKILL (the whole guest: see boot()) after `graceMs`. Idempotent; never throws. */
  async shutdown(graceMs = 20_000): Promise<void> {
    if (!this.exited) {
      try {
        writeFileSync(join(this.dir, "halt"), "");
      } catch {
        /* dir gone */
      }
      const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
      await this.gone;
      clearTimeout(t);
    }
  }
}

/** The guest's init: mounts, the exchange directory at its host path, then the command loop. */
function initScript(dir: string): string {
  return `#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
X=${dir}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p $X
mount -t hostfs none $X -o $X || { echo "cannot mount the exchange directory $X"; /bin/busybox poweroff -f; }
ip link set lo up
uname -r > $X/ready
while :; do
  for f in $X/cmd/*.sh; do
    [ -e "$f" ] || continue
    n=\${f%.sh}
    [ -e "$n.rc" ] && continue
    read limit <"$n.limit" || limit=60
    timeout -s KILL "$limit" sh "$f" >"$n.out" 2>&1 </dev/null
    echo $? >"$n.rc.tmp"
    mv "$n.rc.tmp" "$n.rc"
  done
  [ -e $X/halt ] && break
  sleep 0.05
done
sync
/bin/busybox poweroff -f
`;
}
