// Running `ipsec6in4 up` as a process inside a namespace, for the daemon tests: how to start the
// CLI (dist/cli.js when it has `up`, else a bundle of src/cli-daemon.ts), a daemon with its log,
// its status over the control socket, and the kernel's ping -6 through the TUN devices.
// (test/daemon.test.ts has its own copy of the same; this one is for daemon.restart.test.ts.)
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { addonCandidates } from "../../src/node/addon.js";
import { controlRequest } from "../../src/control.js";
import type { DaemonStatus } from "../../src/daemon.js";
import { waitFor, type Netns } from "./netns.js";

const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

export interface DaemonCli {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Remove the bundle, if one was made. */
  dispose(): void;
}

export async function daemonCli(): Promise<DaemonCli> {
  const help = spawnSync("node", [join(REPO, "dist/cli.js"), "help"], { encoding: "utf8" });
  if (help.status === 0 && /^\s+up\b/m.test(help.stdout)) return { argv: ["node", join(REPO, "dist/cli.js")], env: { ...process.env }, dispose: () => undefined };
  const { build } = await import("esbuild");
  const dir = mkdtempSync(join(tmpdir(), "ipsec6in4-daemon-cli-"));
  const out = join(dir, "cli.mjs");
  await build({
    stdin: {
      contents: `
        import { setKeystreamProvider } from "./src/core/keystream.js";
        import { nodeKeystreamProvider } from "./src/core/node-keystream.js";
        import { upCommand, statusCommand, downCommand } from "./src/cli-daemon.js";
        setKeystreamProvider(nodeKeystreamProvider);
        const [cmd, ...rest] = process.argv.slice(2);
        const f = { up: upCommand, status: statusCommand, down: downCommand }[cmd];
        f(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s)).then((c) => (process.exitCode = c));`,
      resolveDir: REPO,
      sourcefile: "daemon-cli-entry.ts",
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: out,
    logLevel: "error",
  });
  const env: NodeJS.ProcessEnv = { ...process.env };
  const built = addonCandidates({}).find((p) => existsSync(p));
  if (built) env.IPSEC6IN4_ADDON = built;
  return { argv: ["node", out], env, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface DaemonProc {
  child: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
  socket: string;
}

/** `up <dir>/<name>.conf --socket <dir>/<name>.sock [extra]` in `ns`, stderr collected. */
export function startDaemon(cli: DaemonCli, ns: Netns, dir: string, name: string, conf: string, extra: string[] = []): DaemonProc {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const socket = join(dir, `${name}.sock`);
  const child = ns.spawn([...cli.argv, "up", file, "--socket", socket, ...extra], { stdio: ["ignore", "ignore", "pipe"], env: cli.env });
  let log = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (log += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, log: () => log, exited, socket };
}

export async function daemonStatus(p: DaemonProc): Promise<DaemonStatus | undefined> {
  try {
    const r = await controlRequest<DaemonStatus>({ command: "status" }, p.socket, 2000);
    return r.ok ? r.result : undefined;
  } catch {
    return undefined;
  }
}

/** Ping replies received of `count` sent from `from` to `to` in `ns`. */
export async function ping6(ns: Netns, from: string, to: string, count = 3): Promise<number> {
  const r = await ns.execAsync(["ping", "-6", "-n", "-c", String(count), "-i", "0.2", "-W", "2", "-I", from, to], { timeout: 15_000 });
  const m = /(\d+) received/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/** The status once it shows `pred`, or a failure naming what was awaited, with the log. */
export function statusWhen(p: DaemonProc, pred: (s: DaemonStatus) => boolean, timeoutMs: number, what: string): Promise<DaemonStatus> {
  return waitFor(
    async () => {
      const s = await daemonStatus(p);
      return s && pred(s) ? s : undefined;
    },
    timeoutMs,
    () => `${what}; log:\n${p.log()}`,
  );
}
