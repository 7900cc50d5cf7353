/**
 * Our tunnel daemon (`ipsec6in4 up`) as a process in a network namespace, for end-to-end tests.
 *
 *   const cli = await daemonCli();            // in beforeAll; cli.dispose() in afterAll
 *   const d = startDaemon(cli, ns, dir, "a", confText, ["--debug", "2"]);
 *   await waitFor(() => daemonStatus(d), …);  // the control socket answers
 *   await runCli(cli, ["status", "--json", "--socket", d.socket]);
 *
 * The CLI is dist/cli.js when it has `up` (what the package ships; `npm test` builds it
 * first), else a bundle of a tiny entry over src/cli-daemon.ts made with esbuild, with the
 * addon path given explicitly. IPSEC6IN4_TEST_CLI=src forces the bundle (the current source,
 * without rebuilding dist/).
 */
import { execFile, spawnSync, type ChildProcess } from "node:child_process";
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
  /** node and the script */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** Remove the bundle, if one was made. */
  dispose(): void;
}

/** How to run `ipsec6in4` (see the file comment). */
export async function daemonCli(): Promise<DaemonCli> {
  if (process.env.IPSEC6IN4_TEST_CLI !== "src") {
    const help = spawnSync("node", [join(REPO, "dist/cli.js"), "help"], { encoding: "utf8" });
    if (help.status === 0 && /^\s+up\b/m.test(help.stdout)) {
      return { argv: ["node", join(REPO, "dist/cli.js")], env: { ...process.env }, dispose: () => undefined };
    }
  }
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

/** Run `ipsec6in4 ARGS` (in the current namespace) to completion. */
export function runCli(cli: DaemonCli, args: string[], env: NodeJS.ProcessEnv = cli.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cli.argv[0], [...cli.argv.slice(1), ...args], { env, encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) =>
      res({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export interface DaemonProc {
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  log(): string;
  exited: Promise<number | null>;
  socket: string;
}

/** `ipsec6in4 up DIR/NAME.conf --socket DIR/NAME.sock EXTRA…` inside `ns` (killed by the lab's cleanup). */
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

/** The daemon's status over its control socket, or undefined if it does not answer within `timeoutMs`. */
export async function daemonStatus(p: DaemonProc, timeoutMs = 2000): Promise<DaemonStatus | undefined> {
  try {
    const r = await controlRequest<DaemonStatus>({ command: "status" }, p.socket, timeoutMs);
    return r.ok ? r.result : undefined;
  } catch {
    return undefined;
  }
}

/** SIGKILL the daemon if it still runs, and wait for it. */
export async function killDaemon(p: DaemonProc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill("SIGKILL");
    await p.exited.catch(() => undefined);
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
