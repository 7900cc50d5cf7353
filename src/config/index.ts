/**
 * loadConfig: swanctl.conf text, JSON text or a JS object -> a validated Config.
 *
 *   loadConfig(text, { file: "/etc/swanctl/swanctl.conf" })   // swanctl.conf syntax or JSON
 *   loadConfigFile("/etc/swanctl/swanctl.conf")               // reads the file (Node)
 *   loadConfig({ connections: { … }, tunnels: { … } })        // same shape as the files
 *
 * Text starting with "{" is JSON (a swanctl.conf cannot start with "{"). Includes are read
 * through an IncludeHost; in Node one backed by node:fs is used by default (found through
 * process.getBuiltinModule, so this module imports nothing Node-specific and bundles for
 * browsers, where includes need a host to be passed).
 */
import {
  ConfigError,
  formatSettings,
  hasGlobMagic,
  parseJsonSettings,
  parseSettings,
  resolveReferences,
  settingsFromObject,
  settingsToObject,
  type IncludeHost,
  type Section,
} from "./swanctl.js";
import { buildConfig, type Config } from "./model.js";

export * from "./swanctl.js";
export * from "./model.js";
export * from "./proposals.js";

export interface LoadOptions {
  /** Name of the file the text came from: for messages, and the base of relative includes. */
  file?: string;
  /** "auto" (default): JSON when the text starts with "{", swanctl.conf syntax otherwise. */
  format?: "auto" | "swanctl" | "json";
  /** Accept strongSwan keys ipsec6in4 does not implement, listing them in Config.ignored. */
  allowUnsupported?: boolean;
  /** File access for include; default: node:fs where available. */
  host?: IncludeHost;
}

type FsLike = {
  readFileSync(p: string, enc: "utf8"): string;
  readdirSync(p: string, o: { withFileTypes: true }): { name: string; isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }[];
  realpathSync(p: string): string;
  statSync(p: string, o?: { throwIfNoEntry: false }): { isFile(): boolean; isDirectory(): boolean } | undefined;
};
type PathLike = {
  resolve(...p: string[]): string;
  dirname(p: string): string;
  isAbsolute(p: string): boolean;
  sep: string;
};

/** One path segment of a glob(3) pattern as a RegExp: * ? [..] [!..] and \ escapes; a
 *  leading "." must be matched literally. */
export function globSegmentToRegExp(seg: string): RegExp {
  let re = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "\\" && i + 1 < seg.length) re += escapeRe(seg[++i]);
    else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = seg.indexOf("]", i + 2);
      if (close < 0) {
        re += "\\[";
        continue;
      }
      let body = seg.slice(i + 1, close);
      const neg = body[0] === "!" || body[0] === "^";
      if (neg) body = body.slice(1);
      re += `[${neg ? "^" : ""}${body.replace(/\\/g, "\\\\").replace(/\]/g, "\\]")}]`;
      i = close;
    } else re += escapeRe(c);
  }
  const hidden = seg.startsWith(".") ? "" : "(?!\\.)";
  return new RegExp(`^${hidden}${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** An IncludeHost over node:fs (or any object with the same functions). */
export function fsIncludeHost(fs: FsLike, path: PathLike): IncludeHost {
  return {
    readFile: (p) => fs.readFileSync(p, "utf8"),
    realpath: (p) => fs.realpathSync(p),
    resolve: (from, pattern) =>
      path.isAbsolute(pattern) ? pattern : path.resolve(from !== undefined ? path.dirname(path.resolve(from)) : ".", pattern),
    glob: (pattern) => {
      if (!hasGlobMagic(pattern)) {
        const st = fs.statSync(pattern, { throwIfNoEntry: false });
        return st ? [pattern] : [];
      }
      const parts = pattern.split("/");
      let dirs = [parts[0] === "" ? "/" : parts[0]];
      for (let i = 1; i < parts.length; i++) {
        const seg = parts[i];
        if (seg === "") continue;
        const last = i === parts.length - 1;
        const next: string[] = [];
        for (const d of dirs) {
          if (!hasGlobMagic(seg)) {
            const p = d.endsWith("/") ? d + seg : `${d}/${seg}`;
            if (fs.statSync(p, { throwIfNoEntry: false })) next.push(p);
            continue;
          }
          const re = globSegmentToRegExp(seg);
          let entries: ReturnType<FsLike["readdirSync"]>;
          try {
            entries = fs.readdirSync(d, { withFileTypes: true });
          } catch {
            continue;
          }
          for (const e of entries) {
            if (!re.test(e.name)) continue;
            const p = d.endsWith("/") ? d + e.name : `${d}/${e.name}`;
            if (!last && !(e.isDirectory() || (e.isSymbolicLink() && fs.statSync(p, { throwIfNoEntry: false })?.isDirectory())))
              continue;
            next.push(p);
          }
        }
        dirs = next;
      }
      return dirs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    },
  };
}

let defaultHost: IncludeHost | null | undefined;
function nodeHost(): IncludeHost | undefined {
  if (defaultHost === undefined) {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const fs = proc?.getBuiltinModule?.("fs") as FsLike | undefined;
    const path = proc?.getBuiltinModule?.("path") as PathLike | undefined;
    defaultHost = fs && path ? fsIncludeHost(fs, path) : null;
  }
  return defaultHost ?? undefined;
}

/** The settings tree of a source, references resolved (before validation). */
export function loadSettings(
  source: string | object,
  opts: LoadOptions = {},
): { root: Section; referenced: Set<string>; files: string[] } {
  if (typeof source !== "string") {
    return { root: settingsFromObject(source, opts.file), referenced: new Set(), files: opts.file ? [opts.file] : [] };
  }
  const format = opts.format ?? "auto";
  const isJson = format === "json" || (format === "auto" && /^\uFEFF?\s*\{/.test(source));
  if (isJson) {
    return { root: parseJsonSettings(source, opts.file), referenced: new Set(), files: opts.file ? [opts.file] : [] };
  }
  const parsed = parseSettings(source, { file: opts.file, host: opts.host ?? nodeHost() });
  const resolved = resolveReferences(parsed.root);
  return { root: resolved.root, referenced: resolved.referenced, files: parsed.files };
}

/** Parse and validate a configuration. Throws ConfigError (file, line, key, reason). */
export function loadConfig(source: string | object, opts: LoadOptions = {}): Config {
  const { root, referenced } = loadSettings(source, opts);
  return buildConfig(root, referenced, { allowUnsupported: opts.allowUnsupported });
}

/** Read a file (swanctl.conf syntax, or JSON) and load it. */
export function loadConfigFile(file: string, opts: Omit<LoadOptions, "file"> = {}): Config {
  const host = opts.host ?? nodeHost();
  if (!host) throw new ConfigError("no file access here: pass the text to loadConfig() instead", "", { file });
  let text: string;
  try {
    text = host.readFile(file);
  } catch (e) {
    throw new ConfigError(`cannot read the file: ${(e as { code?: string }).code ?? (e as Error).message}`, "", { file });
  }
  return loadConfig(text, { ...opts, file, host, format: opts.format ?? (file.endsWith(".json") ? "json" : "auto") });
}

/** The flattened tree: includes and references applied, and the top-level templates that
 *  were only there to be referenced dropped (what they gave is now in their inheritors). */
function flattened(source: string | object, opts: LoadOptions): Section {
  const { root, referenced } = loadSettings(source, opts);
  const keep = new Set(["connections", "secrets", "tunnels"]);
  for (const name of referenced) {
    const top = name.split(".")[0];
    if (!keep.has(top)) root.sections.delete(top);
  }
  return root;
}

/** A source rewritten in swanctl.conf syntax, one self-contained file (see flattened). */
export function toSwanctl(source: string | object, opts: LoadOptions = {}): string {
  return formatSettings(flattened(source, opts));
}

/** A source as the plain object of its JSON twin (see flattened). */
export function toJsonObject(source: string | object, opts: LoadOptions = {}): object {
  return settingsToObject(flattened(source, opts));
}
