/**
 * strongSwan's settings syntax, the one swanctl.conf and strongswan.conf share, read into a
 * tree of sections and key/value pairs (our own code, written against strongSwan's
 * settings_lexer.l / settings_parser.y and strongswan.conf(5)):
 *
 *   settings   := (section | keyvalue | include)*
 *   section    := name [":" references] "{" settings "}"
 *   references := absname ("," absname)*         absname := name ("." name)*
 *   keyvalue   := name "=" value                  value runs to the end of the line, or to
 *                                                  "#" or "}"; words are joined by one space;
 *                                                  "quoted strings" keep their spaces and know
 *                                                  \n \r \t \<newline> (continuation) and \x
 *   include    := "include" pattern               glob relative to the including file
 *
 * Names may hold any printable character except . , : { } = " # and white space ("::" in a
 * name stands for one ":"). Newlines between tokens are not significant, "#" starts a
 * comment. A section defined twice is merged, a key defined twice keeps the last value
 * (in the position of the first), `key =` assigns "no value" (the default applies, and it
 * shadows an inherited value). Sections referenced with ":" are inherited after the
 * section's own settings, left to right, transitively ("name : a, b { }").
 *
 * Deviations, all refusals with a named reason where strongSwan would be lenient:
 *  - "." in section names (strongSwan allows it "in rare circumstances") is refused;
 *  - a key and a section may not share a name in one section;
 *  - an include of a literal path that does not exist is an error (a glob matching
 *    nothing is fine, as in strongSwan); include cycles are detected and refused;
 *  - every included file must close the sections it opens;
 *  - an empty include pattern is refused (strongSwan ignores it with a log line).
 */
import { IpsecError, type ErrorCode } from "../errors.js";

export interface SourceLoc {
  file?: string;
  line?: number;
  column?: number;
}

/** A refused configuration: where (file, line, column), which key (dotted path), and why. */
export class ConfigError extends IpsecError {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the offending key or section, e.g. "connections.gw.children.net.mode". */
  readonly key: string;
  readonly reason: string;
  /** Every problem found in the same pass (this one first). */
  errors: ConfigError[];
  constructor(reason: string, key: string, loc?: SourceLoc) {
    super("ERR_CONFIG" as ErrorCode, ConfigError.format(reason, key, loc));
    this.name = "ConfigError";
    this.file = loc?.file;
    this.line = loc?.line;
    this.column = loc?.column;
    this.key = key;
    this.reason = reason;
    this.errors = [this];
  }
  static format(reason: string, key: string, loc?: SourceLoc): string {
    let where = loc?.file ?? "<config>";
    if (loc?.line !== undefined) where += `:${loc.line}`;
    if (loc?.line !== undefined && loc?.column !== undefined) where += `:${loc.column}`;
    return key ? `${where}: ${key}: ${reason}` : `${where}: ${reason}`;
  }
}

export interface SettingValue {
  /** null: assigned without a value (`key =`), which restores the default. */
  value: string | null;
  loc: SourceLoc;
}

export interface SectionRef {
  name: string;
  loc: SourceLoc;
}

export interface Section {
  name: string;
  loc: SourceLoc;
  /** Sections this one inherits from (absolute dotted names), only before resolution. */
  refs: SectionRef[];
  values: Map<string, SettingValue>;
  sections: Map<string, Section>;
}

export function newSection(name: string, loc: SourceLoc = {}): Section {
  return { name, loc, refs: [], values: new Map(), sections: new Map() };
}

/** File access for `include`. All paths it returns and takes are absolute. */
export interface IncludeHost {
  readFile(path: string): string;
  /** The absolute pattern for `pattern` written in `fromFile` (undefined: the top level). */
  resolve(fromFile: string | undefined, pattern: string): string;
  /** Files matching an absolute glob pattern, sorted as glob(3) sorts them. */
  glob(pattern: string): string[];
  /** A canonical name of the file, to detect include cycles. */
  realpath(path: string): string;
}

export interface ParseOptions {
  file?: string;
  host?: IncludeHost;
  /** Maximum include nesting (default 32). */
  maxIncludeDepth?: number;
}

const NAME_STOP = new Set(["#", "{", "}", ":", ".", ",", "=", '"', "\r", "\n", "\t", " "]);
const VALUE_STOP = new Set(["#", "}", '"', "\r", "\n", "\t", " "]);
const INCLUDE_STOP = new Set(['"', "\\", "#", "}", "\r", "\n", "\t", " "]);

export function hasGlobMagic(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** True when `name` can be written as a key or section name (before "::" escaping). */
export function isValidName(name: string): boolean {
  if (name.length === 0) return false;
  for (const c of name) {
    if (c === ":") continue;
    if (NAME_STOP.has(c) || c < " " || c === "\x7f") return false;
  }
  return true;
}

class Scanner {
  pos = 0;
  line = 1;
  col = 1;
  /** The key whose value is being read, for messages. */
  key = "";
  constructor(
    readonly text: string,
    readonly file: string | undefined,
  ) {}
  get eof(): boolean {
    return this.pos >= this.text.length;
  }
  peek(o = 0): string {
    return this.text[this.pos + o] ?? "";
  }
  next(): string {
    const c = this.text[this.pos++];
    if (c === "\n") {
      this.line++;
      this.col = 1;
    } else this.col++;
    return c;
  }
  loc(): SourceLoc {
    return { file: this.file, line: this.line, column: this.col };
  }
  /** The upcoming word, for messages. */
  peekWord(): string {
    const m = /^[^\s]{1,30}/.exec(this.text.slice(this.pos));
    return m ? `'${m[0]}'` : this.eof ? "end of file" : "end of line";
  }
  fail(reason: string, key = this.key, loc: SourceLoc = this.loc()): never {
    throw new ConfigError(reason, key, loc);
  }
  /** Spaces, tabs, CRs, newlines and comments. */
  skipBlank(): void {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\r" || c === "\n") this.next();
      else if (c === "#") {
        while (!this.eof && this.peek() !== "\n") this.next();
      } else return;
    }
  }
  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === "\r") this.next();
  }
  readName(): string {
    let s = "";
    for (;;) {
      const c = this.peek();
      if (c === ":" && this.peek(1) === ":") {
        s += ":";
        this.next();
        this.next();
        continue;
      }
      if (this.eof || NAME_STOP.has(c)) return s;
      s += this.next();
    }
  }
  /** After the opening quote. */
  readString(open: SourceLoc): string {
    let s = "";
    for (;;) {
      if (this.eof) this.fail("unterminated quoted string", this.key, open);
      const c = this.next();
      if (c === '"') return s;
      if (c === "\r") continue;
      if (c === "\\") {
        if (this.eof) this.fail("unterminated quoted string", this.key, open);
        const e = this.next();
        if (e === "n") s += "\n";
        else if (e === "r") s += "\r";
        else if (e === "t") s += "\t";
        else if (e === "\n") continue;
        else if (e === "\r" && this.peek() === "\n") this.next();
        else s += e;
        continue;
      }
      s += c;
    }
  }
  /** After "=": the value, up to the end of the line, "#" or "}". */
  readValue(): string | null {
    const parts: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.peek();
      if (this.eof || c === "\n" || c === "#" || c === "}") break;
      if (c === '"') {
        const open = this.loc();
        this.next();
        parts.push(this.readString(open));
        continue;
      }
      let w = "";
      while (!this.eof && !VALUE_STOP.has(this.peek())) w += this.next();
      parts.push(w);
    }
    return parts.length ? parts.join(" ") : null;
  }
  /** After "include" and its white space. */
  readIncludePattern(): string {
    let s = "";
    for (;;) {
      const c = this.peek();
      if (this.eof || c === "#" || c === "}" || c === "\n" || c === "\t" || c === " ") return s;
      if (c === "\r") {
        this.next();
        continue;
      }
      if (c === '"') {
        const open = this.loc();
        this.next();
        return s + this.readString(open);
      }
      if (c === "\\") {
        this.next();
        const e = this.peek();
        if (e === '"' || e === "#" || e === "}" || e === " ") s += this.next();
        else s += "\\";
        continue;
      }
      while (!this.eof && !INCLUDE_STOP.has(this.peek())) s += this.next();
    }
  }
}

interface ParseContext {
  host?: IncludeHost;
  stack: string[];
  maxDepth: number;
  files: string[];
}

function pathOf(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

function describe(c: string): string {
  if (c === "\n") return "end of line";
  if (c === "") return "end of file";
  return `'${c}'`;
}

function parseStatements(
  sc: Scanner,
  sec: Section,
  path: string,
  ctx: ParseContext,
  opened: SourceLoc | null,
): void {
  for (;;) {
    sc.skipBlank();
    const here = sc.loc();
    if (sc.eof) {
      if (opened)
        sc.fail(`section '${sec.name}' opened at line ${opened.line} is not closed (missing '}')`, path, opened);
      return;
    }
    const c = sc.peek();
    if (c === "}") {
      if (!opened) sc.fail("unexpected '}' without an open section", path);
      sc.next();
      return;
    }
    if (c === "{") sc.fail("section without a name before '{'", path);
    if (c === "=") sc.fail("missing key name before '='", path);
    if (c === '"') sc.fail("unexpected quoted string: only values and include patterns may be quoted", path);
    if (c === "," || c === ":" || c === ".") sc.fail(`unexpected '${c}'`, path);
    const name = sc.readName();
    const key = pathOf(path, name);
    if (name === "include" && (sc.peek() === " " || sc.peek() === "\t")) {
      sc.skipSpaces();
      if (!sc.eof && sc.peek() !== "=") {
        sc.key = key;
        const pattern = sc.readIncludePattern();
        sc.key = "";
        includeFiles(sc, sec, path, ctx, pattern, here);
        continue;
      }
    }
    sc.skipBlank();
    const t = sc.peek();
    if (t === ".") sc.fail(`'.' is not allowed in a key or section name ('${name}.')`, key, sc.loc());
    if (t === "=") {
      sc.next();
      sc.key = key;
      const value = sc.readValue();
      sc.key = "";
      if (sec.sections.has(name)) sc.fail(`'${name}' is already a section here; a key may not share its name`, key, here);
      sec.values.set(name, { value, loc: here });
      continue;
    }
    let refs: SectionRef[] = [];
    if (t === ":") {
      sc.next();
      refs = readRefs(sc, key);
      sc.skipBlank();
      if (sc.peek() !== "{") sc.fail(`expected '{' after the references of section '${name}', found ${describe(sc.peek())}`, key, sc.loc());
    }
    if (sc.peek() === "{") {
      sc.next();
      if (sec.values.has(name)) sc.fail(`'${name}' is already a key here; a section may not share its name`, key, here);
      let sub = sec.sections.get(name);
      if (!sub) {
        sub = newSection(name, here);
        sec.sections.set(name, sub);
      }
      for (const r of refs) if (!sub.refs.some((x) => x.name === r.name)) sub.refs.push(r);
      parseStatements(sc, sub, key, ctx, here);
      continue;
    }
    sc.fail(`expected '=' or '{' after '${name}', found ${t === "}" ? "'}'" : /secret|pin/.test(name) ? "text (not shown: it may be a secret)" : sc.peekWord()}`, key, sc.loc());
  }
}

function readRefs(sc: Scanner, key: string): SectionRef[] {
  const refs: SectionRef[] = [];
  for (;;) {
    sc.skipBlank();
    const loc = sc.loc();
    let name = "";
    for (;;) {
      const part = sc.readName();
      if (!part) break;
      name += part;
      if (sc.peek() === "." && !NAME_STOP.has(sc.peek(1)) && sc.peek(1) !== "") {
        sc.next();
        name += ".";
      } else break;
    }
    if (!name) sc.fail(`expected the name of a section to reference, found ${describe(sc.peek())}`, key, loc);
    refs.push({ name, loc });
    sc.skipBlank();
    if (sc.peek() !== ",") return refs;
    sc.next();
  }
}

function includeFiles(
  sc: Scanner,
  sec: Section,
  path: string,
  ctx: ParseContext,
  pattern: string,
  at: SourceLoc,
): void {
  const key = pathOf(path, "include");
  if (!pattern) sc.fail("include without a file pattern", key, at);
  const host = ctx.host;
  if (!host) sc.fail(`cannot include '${pattern}': no file access (load the configuration from a file)`, key, at);
  const abs = host.resolve(sc.file, pattern);
  let files: string[];
  try {
    files = host.glob(abs);
  } catch (e) {
    sc.fail(`cannot expand include pattern '${pattern}': ${(e as Error).message}`, key, at);
  }
  if (files.length === 0 && !hasGlobMagic(pattern)) sc.fail(`included file '${pattern}' does not exist`, key, at);
  for (const f of files) {
    let real: string;
    let text: string;
    try {
      real = host.realpath(f);
      text = host.readFile(f);
    } catch (e) {
      sc.fail(`cannot read included file '${f}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, key, at);
    }
    const cycle = ctx.stack.indexOf(real);
    if (cycle >= 0) {
      const chain = [...ctx.stack.slice(cycle), real].join(" -> ");
      sc.fail(`include cycle: ${chain}`, key, at);
    }
    if (ctx.stack.length >= ctx.maxDepth) sc.fail(`includes nested deeper than ${ctx.maxDepth} levels`, key, at);
    ctx.stack.push(real);
    ctx.files.push(f);
    parseStatements(new Scanner(text, f), sec, path, ctx, null);
    ctx.stack.pop();
  }
}

export interface ParsedSettings {
  root: Section;
  /** Every file read, the main file first. */
  files: string[];
}

/** Parse swanctl.conf text into a tree (references not yet resolved). */
export function parseSettings(text: string, opts: ParseOptions = {}): ParsedSettings {
  const root = newSection("", { file: opts.file, line: 1, column: 1 });
  const ctx: ParseContext = { host: opts.host, stack: [], maxDepth: opts.maxIncludeDepth ?? 32, files: [] };
  if (opts.file !== undefined) {
    ctx.files.push(opts.file);
    if (opts.host) {
      try {
        ctx.stack.push(opts.host.realpath(opts.file));
      } catch {
        ctx.stack.push(opts.file);
      }
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  parseStatements(new Scanner(text, opts.file), root, "", ctx, null);
  return { root, files: ctx.files };
}

// ---------------------------------------------------------------------------------------
// References

function cloneSection(s: Section): Section {
  const c = newSection(s.name, s.loc);
  c.refs = [...s.refs];
  for (const [k, v] of s.values) c.values.set(k, v);
  for (const [k, v] of s.sections) c.sections.set(k, cloneSection(v));
  return c;
}

/** Add what `src` has and `dst` lacks (recursively): inherited settings have lower priority. */
function mergeInherited(dst: Section, src: Section): void {
  for (const [k, v] of src.values) if (!dst.values.has(k) && !dst.sections.has(k)) dst.values.set(k, v);
  for (const [k, s] of src.sections) {
    if (dst.values.has(k)) continue;
    const d = dst.sections.get(k);
    if (d) mergeInherited(d, s);
    else dst.sections.set(k, cloneSection(s));
  }
}

export interface ResolvedSettings {
  root: Section;
  /** Absolute names of every referenced section (templates). */
  referenced: Set<string>;
}

/** Apply section references (name : a, b { }) and return a tree without them. */
export function resolveReferences(root: Section): ResolvedSettings {
  const referenced = new Set<string>();
  const memo = new Map<Section, Section>();
  const active: string[] = [];
  const lookup = (name: string): Section | undefined => {
    let s: Section | undefined = root;
    for (const part of name.split(".")) {
      s = s?.sections.get(part);
      if (!s) return undefined;
    }
    return s;
  };
  const resolve = (sec: Section, path: string): Section => {
    const done = memo.get(sec);
    if (done) return cloneSection(done);
    active.push(path);
    const out = newSection(sec.name, sec.loc);
    for (const [k, v] of sec.values) out.values.set(k, v);
    for (const [k, s] of sec.sections) out.sections.set(k, resolve(s, pathOf(path, k)));
    for (const r of sec.refs) {
      const target = lookup(r.name);
      if (!target) throw new ConfigError(`references section '${r.name}', which does not exist`, path, r.loc);
      if (active.includes(r.name)) {
        const chain = [...active.slice(active.indexOf(r.name)), r.name].join(" -> ");
        throw new ConfigError(`reference cycle: ${chain}`, path, r.loc);
      }
      referenced.add(r.name);
      mergeInherited(out, resolve(target, r.name));
    }
    active.pop();
    memo.set(sec, out);
    return cloneSection(out);
  };
  return { root: resolve(root, ""), referenced };
}

// ---------------------------------------------------------------------------------------
// JSON and JS objects of the same shape

function checkName(name: string, path: string, loc?: SourceLoc): void {
  if (!isValidName(name))
    throw new ConfigError(
      `invalid name ${JSON.stringify(name)}: names may not be empty or contain . , { } = " # or white space`,
      pathOf(path, name),
      loc,
    );
}

function scalarToValue(v: unknown, key: string, loc?: SourceLoc): string | null {
  if (v === null) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ConfigError(`${v} is not a usable number`, key, loc);
    return String(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) {
    if (v.length === 0) return null;
    return v
      .map((x) => {
        if (x === null || typeof x === "object" || Array.isArray(x))
          throw new ConfigError("list elements must be strings or numbers", key, loc);
        return scalarToValue(x, key, loc);
      })
      .join(",");
  }
  throw new ConfigError(`a ${typeof v} cannot be a configuration value`, key, loc);
}

/**
 * A JS object of the same shape as the files: objects are sections, strings and numbers
 * values, booleans yes/no, arrays comma lists, null "no value" (the default).
 */
export function settingsFromObject(obj: unknown, file?: string): Section {
  const loc: SourceLoc | undefined = file !== undefined ? { file } : undefined;
  const build = (o: Record<string, unknown>, name: string, path: string): Section => {
    const sec = newSection(name, loc ?? {});
    for (const [k, v] of Object.entries(o)) {
      checkName(k, path, loc);
      if (v === undefined) continue;
      const key = pathOf(path, k);
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null)
          throw new ConfigError("only plain objects can be sections", key, loc);
        sec.sections.set(k, build(v as Record<string, unknown>, k, key));
      } else sec.values.set(k, { value: scalarToValue(v, key, loc), loc: loc ?? {} });
    }
    return sec;
  };
  if (obj === null || typeof obj !== "object" || Array.isArray(obj))
    throw new ConfigError("a configuration object must be a plain object", "", loc);
  return build(obj as Record<string, unknown>, "", "");
}

/** JSON text (same shape as settingsFromObject) with line and column of every key. */
export function parseJsonSettings(text: string, file?: string): Section {
  const sc = new Scanner(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file);
  const ws = (): void => {
    while (" \t\r\n".includes(sc.peek()) && !sc.eof) sc.next();
  };
  const expect = (c: string): void => {
    ws();
    if (sc.peek() !== c) sc.fail(`JSON: expected '${c}', found ${describe(sc.peek())}`);
    sc.next();
  };
  const str = (): string => {
    const open = sc.loc();
    if (sc.peek() !== '"') sc.fail(`JSON: expected a string, found ${describe(sc.peek())}`);
    sc.next();
    let s = "";
    for (;;) {
      if (sc.eof) sc.fail("JSON: unterminated string", sc.key, open);
      const c = sc.next();
      if (c === '"') return s;
      if (c < " ") sc.fail("JSON: control character in string", sc.key, open);
      if (c !== "\\") {
        s += c;
        continue;
      }
      const e = sc.next();
      const map: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (e in map) s += map[e];
      else if (e === "u") {
        let h = "";
        for (let i = 0; i < 4; i++) h += sc.next() ?? "";
        if (!/^[0-9a-fA-F]{4}$/.test(h)) sc.fail("JSON: bad \\u escape");
        s += String.fromCharCode(parseInt(h, 16));
      } else sc.fail(`JSON: bad escape '\\${e ?? ""}'`);
    }
  };
  const scalar = (): unknown => {
    ws();
    const c = sc.peek();
    if (c === '"') return str();
    if (c === "[") {
      sc.next();
      const out: unknown[] = [];
      ws();
      if (sc.peek() === "]") {
        sc.next();
        return out;
      }
      for (;;) {
        ws();
        if (sc.peek() === "{" || sc.peek() === "[") sc.fail("JSON: list elements must be strings or numbers");
        out.push(scalar());
        ws();
        if (sc.peek() === ",") {
          sc.next();
          continue;
        }
        expect("]");
        return out;
      }
    }
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(sc.text.slice(sc.pos));
    if (!m) return sc.fail(`JSON: unexpected ${describe(c)}`);
    for (let i = 0; i < m[0].length; i++) sc.next();
    if (m[0] === "true") return true;
    if (m[0] === "false") return false;
    if (m[0] === "null") return null;
    return Number(m[0]);
  };
  const object = (name: string, path: string, at: SourceLoc): Section => {
    const sec = newSection(name, at);
    sc.key = path;
    expect("{");
    ws();
    if (sc.peek() === "}") {
      sc.next();
      return sec;
    }
    for (;;) {
      ws();
      const kloc = sc.loc();
      const k = str();
      checkName(k, path, kloc);
      const key = pathOf(path, k);
      sc.key = key;
      expect(":");
      ws();
      if (sc.peek() === "{") {
        if (sec.values.has(k)) throw new ConfigError(`'${k}' is already a key here; a section may not share its name`, key, kloc);
        const sub = object(k, key, kloc);
        const old = sec.sections.get(k);
        if (old) mergeInherited(sub, old); // a later duplicate extends/overrides the earlier one
        sec.sections.set(k, sub);
      } else {
        if (sec.sections.has(k)) throw new ConfigError(`'${k}' is already a section here; a key may not share its name`, key, kloc);
        sec.values.set(k, { value: scalarToValue(scalar(), key, kloc), loc: kloc });
      }
      sc.key = path;
      ws();
      if (sc.peek() === ",") {
        sc.next();
        continue;
      }
      expect("}");
      return sec;
    }
  };
  ws();
  const root = object("", "", sc.loc());
  ws();
  if (!sc.eof) sc.fail(`JSON: unexpected ${describe(sc.peek())} after the top-level object`);
  return root;
}

// ---------------------------------------------------------------------------------------
// Writing

const PLAIN_VALUE = /^[^#}"\r\n\t ]+(?: [^#}"\r\n\t ]+)*$/;

export function formatValue(v: string | null): string {
  if (v === null) return "";
  if (PLAIN_VALUE.test(v)) return v;
  return `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}"`;
}

function formatName(n: string): string {
  return n.replace(/:/g, "::");
}

/** Write a (resolved) tree in swanctl.conf syntax; parseSettings() reads it back equal. */
export function formatSettings(sec: Section, indent = ""): string {
  let out = "";
  for (const [k, v] of sec.values) {
    const fv = formatValue(v.value);
    out += `${indent}${formatName(k)} =${fv ? " " + fv : ""}\n`;
  }
  for (const [k, s] of sec.sections) {
    const refs = s.refs.length ? ` : ${s.refs.map((r) => r.name).join(", ")}` : "";
    out += `${indent}${formatName(k)}${refs} {\n${formatSettings(s, indent + "  ")}${indent}}\n`;
  }
  return out;
}

export type SettingsObject = { [key: string]: string | null | SettingsObject };

/** The tree as a plain object (the JSON twin of a file). */
export function settingsToObject(sec: Section): SettingsObject {
  const o: SettingsObject = {};
  const put = (k: string, v: string | null | SettingsObject): void => {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  };
  for (const [k, v] of sec.values) put(k, v.value);
  for (const [k, s] of sec.sections) put(k, settingsToObject(s));
  return o;
}
