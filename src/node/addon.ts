/**
 * The native addon (native/tun.c, built by node-gyp into native/build/Release/): TUN devices
 * and raw IPv4 sockets, which node:dgram cannot give. It is optional: when it cannot be
 * loaded (not Linux, not built, a bad path in IPSEC6IN4_ADDON) everything else works, and
 * `loadAddon()` says precisely why, so the daemon can tell the user what is missing.
 *
 * Where it is looked for, in order:
 *   $IPSEC6IN4_ADDON                                 (a path to the .node file; nothing else is tried)
 *   <package>/native/build/Release/ipsec6in4_native.node
 *   <package>/native/build/Debug/ipsec6in4_native.node
 * where <package> is the nearest directory whose package.json is ipsec6in4's, found by
 * walking up from the bases searchBases() lists.
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { constants } from "node:os";

/** The functions native/tun.c exports. */
export interface NativeAddon {
  abi: number;
  tunOpen(name: string): { fd: number; name: string };
  rawOpen(protocol: number): number;
  watch(fd: number, max: number, cb: (errno: number, packets: Buffer[] | null) => void): object;
  unwatch(handle: object): void;
  /** Bytes written, or -errno. */
  write(fd: number, bytes: Uint8Array): number;
  /** Bytes sent, or -errno. */
  sendTo(fd: number, bytes: Uint8Array, ipv4: number): number;
  close(fd: number): number;
  strerror(errno: number): string;
}

export type AddonResult = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string; tried: string[] };

export const ADDON_ENV = "IPSEC6IN4_ADDON";
const FILE = "ipsec6in4_native.node";

declare const __dirname: string | undefined;

/**
 * Directories to start the search for the package root from. No import.meta here (the CJS
 * build would lose it): the module's own directory where CJS gives it, the running script
 * (dist/cli.js), where Node resolves the package name from the working directory (an app that
 * depends on ipsec6in4), and the working directory itself (the repository, tests).
 */
function searchBases(): string[] {
  const bases: string[] = [];
  if (typeof __dirname === "string") bases.push(__dirname);
  if (process.argv[1]) {
    try {
      bases.push(dirname(realpathSync(process.argv[1])));
    } catch {
      /* not a file */
    }
  }
  try {
    bases.push(dirname(createRequire(join(process.cwd(), "noop.js")).resolve("ipsec6in4/package.json")));
  } catch {
    /* not resolvable from here */
  }
  bases.push(process.cwd());
  return bases;
}

/** The ipsec6in4 package directory: the nearest one up from a base whose package.json names it. */
function packageRoot(): string | undefined {
  for (const base of searchBases()) {
    let dir = resolve(base);
    for (let i = 0; i < 6; i++) {
      try {
        if ((JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string }).name === "ipsec6in4") return dir;
      } catch {
        /* none here */
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return undefined;
}

/** Candidate paths of the built addon (see the module comment). */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const forced = env[ADDON_ENV];
  if (forced) return [resolve(forced)];
  const root = packageRoot();
  return root ? [join(root, "native", "build", "Release", FILE), join(root, "native", "build", "Debug", FILE)] : [];
}

let cached: AddonResult | undefined;

/** Load the addon once (per process, unless `fresh`); never throws. */
export function loadAddon(opts: { env?: NodeJS.ProcessEnv; fresh?: boolean } = {}): AddonResult {
  if (cached && !opts.fresh) return cached;
  const r = tryLoad(opts.env ?? process.env);
  if (!opts.fresh) cached = r;
  return r;
}

function tryLoad(env: NodeJS.ProcessEnv): AddonResult {
  const tried = addonCandidates(env);
  if (process.platform !== "linux") {
    return { ok: false, tried, reason: `the native addon (TUN devices, raw ESP sockets) is Linux-only; this is ${process.platform}` };
  }
  const forced = env[ADDON_ENV];
  if (tried.length === 0) {
    return { ok: false, tried, reason: `the native addon was not found: no ipsec6in4 package directory above ${searchBases().join(", ")} (set ${ADDON_ENV} to the path of ${FILE})` };
  }
  const found = tried.find((p) => existsSync(p));
  if (!found) {
    const how = forced
      ? `${ADDON_ENV}=${forced} names ${tried[0]}, which does not exist`
      : `the native addon is not built: ${tried[0]} does not exist (build it with \`npm run build:native\`, or \`npm rebuild ipsec6in4\` where installed; it needs python3, make, a C compiler and Node's headers)`;
    return { ok: false, tried, reason: how };
  }
  try {
    const req = createRequire(join(dirname(found), "loader.js"));
    const addon = req(found) as NativeAddon & { unsupported?: string };
    if (addon.unsupported) return { ok: false, tried, reason: `${found}: ${addon.unsupported}` };
    if (addon.abi !== 1 || typeof addon.tunOpen !== "function") {
      return { ok: false, tried, reason: `${found} is not the ipsec6in4 addon this version expects (ABI 1): rebuild it with \`npm run build:native\`` };
    }
    return { ok: true, addon, path: found };
  } catch (e) {
    return { ok: false, tried, reason: `cannot load the native addon ${found}: ${(e as Error).message.split("\n")[0]}` };
  }
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v as number, k]));

/** "EPERM" for 1, and so on ("errno 77" where unknown to Node). */
export function errnoName(errno: number): string {
  const e = Math.abs(errno);
  return ERRNO_NAMES.get(e) ?? (e === 77 ? "EBADFD" : `errno ${e}`);
}

/** An error from a native call, with the errno name and what it usually means here. */
export class NativeError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(message: string, errno: number) {
    super(message);
    this.name = "NativeError";
    this.errno = Math.abs(errno);
    this.code = errnoName(errno);
  }
}

/** Rewrap an error thrown by tunOpen/rawOpen with its errno name and a hint. */
export function nativeError(e: unknown, what: string): NativeError {
  const err = e as { message?: string; errno?: number };
  const errno = typeof err.errno === "number" ? err.errno : 0;
  const code = errnoName(errno);
  const hints: Record<string, string> = {
    EPERM: "needs root or CAP_NET_ADMIN (raw sockets: CAP_NET_RAW)",
    EACCES: "needs root or CAP_NET_ADMIN (raw sockets: CAP_NET_RAW)",
    ENOENT: "no /dev/net/tun: load the tun module (modprobe tun) or give the container the device",
    EBUSY: "the interface exists already and is in use by another process",
    EINVAL: "an interface of that name exists and is not a TUN device",
    ENODEV: "the kernel has no TUN support",
  };
  const hint = hints[code] ? ` (${hints[code]})` : "";
  return new NativeError(`${what}: ${err.message ?? String(e)} [${code}]${hint}`, errno);
}
