import { describe, expect, test } from "vitest";
import { readdirSync } from "node:fs";
import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  buildConfig,
  canonicalIP,
  formatIPv6,
  formatSettings,
  globSegmentToRegExp,
  loadConfig,
  loadConfigFile,
  loadSettings,
  parseAddressSpec,
  parseBytes,
  parseEspProposal,
  parseIPv6,
  parseIdentity,
  parseIkeProposal,
  parseJsonSettings,
  parsePrefix,
  parseSettings,
  parseTime,
  parseTrafficSelector,
  resolveReferences,
  settingsFromObject,
  settingsToObject,
  toJsonObject,
  toSwanctl,
  type Config,
  type IncludeHost,
} from "../src/config/index.js";
import { IpsecError } from "../src/errors.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";

const FIX = fileURLToPath(new URL("./fixtures/config/", import.meta.url));

function err(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

/** Parse swanctl text (references resolved) into a plain object. */
function tree(text: string, host?: IncludeHost, file?: string): object {
  return settingsToObject(resolveReferences(parseSettings(text, { host, file }).root).root);
}

/** An in-memory file system for include tests. */
function memHost(files: Record<string, string>): IncludeHost {
  return {
    readFile(p) {
      if (!(p in files)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      return files[p];
    },
    resolve: (from, pat) => (pat.startsWith("/") ? pat : posix.join(from ? posix.dirname(from) : "/", pat)),
    realpath: (p) => posix.normalize(p),
    glob(pattern) {
      const segs = pattern.split("/");
      return Object.keys(files)
        .filter((f) => {
          const fs = f.split("/");
          return fs.length === segs.length && segs.every((s, i) => globSegmentToRegExp(s).test(fs[i]));
        })
        .sort();
    },
  };
}

// A valid connection to embed in model tests.
const CONN = (extra = "", child = "", tail = "") => `
connections {
  gw {
    local_addrs = 192.0.2.1
    remote_addrs = 192.0.2.2
${extra}
    children {
      net {
        mode = transport
        local_ts = dynamic[41]
${child}
      }
    }
  }
}
${tail}`;

describe("settings syntax", () => {
  test("sections, keys, nesting and the strongswan.conf(5) example", () => {
    const t = tree(`a = b
section-one {
  somevalue = asdf
  subsection {
    othervalue = xxx
  }
  # yei, a comment
  yetanother = zz
}
section-two {
  x = 12
}`);
    expect(t).toEqual({
      a: "b",
      "section-one": { somevalue: "asdf", yetanother: "zz", subsection: { othervalue: "xxx" } },
      "section-two": { x: "12" },
    });
  });

  test("a value runs to the end of the line, words joined by one space", () => {
    expect(tree("a =   one    two\tthree  \nb=c")).toEqual({ a: "one two three", b: "c" });
    // '=' and '{' inside a value are plain characters
    expect(tree("a = x=y {z")).toEqual({ a: "x=y {z" });
    // so two settings on one line are one value
    expect(tree("s {\n auth = pubkey certs = a.pem\n}")).toEqual({ s: { auth: "pubkey certs = a.pem" } });
  });

  test("'#' and '}' end a value; a section may sit on one line", () => {
    expect(tree("a = b # comment\nc = d#e")).toEqual({ a: "b", c: "d" });
    expect(tree("s { k = v }")).toEqual({ s: { k: "v" } });
    expect(tree("s { t { k = v } }")).toEqual({ s: { t: { k: "v" } } });
  });

  test("quoted strings keep spaces and '#', know escapes, span lines and continue with \\", () => {
    expect(tree('a = "  spaced  # not a comment "')).toEqual({ a: "  spaced  # not a comment " });
    expect(tree('a = "x\\ty\\nz\\r\\"q\\" \\\\ \\k"')).toEqual({ a: 'x\ty\nz\r"q" \\ k' });
    expect(tree('a = "one\ntwo"\nb = 1')).toEqual({ a: "one\ntwo", b: "1" });
    expect(tree('a = "con\\\ntinued"')).toEqual({ a: "continued" });
    expect(tree('a = "con\\\r\ntinued"')).toEqual({ a: "continued" });
    expect(tree('a = x "y  z" w')).toEqual({ a: "x y  z w" });
    expect(tree('a = ""')).toEqual({ a: "" });
  });

  test("an empty assignment is 'no value' (null), distinct from an empty string", () => {
    expect(tree("a =\nb = # comment\nc = \"\"")).toEqual({ a: null, b: null, c: "" });
  });

  test("newlines between tokens do not matter; CRLF files read the same", () => {
    expect(tree("s\n{\n k = v\n}\n")).toEqual({ s: { k: "v" } });
    expect(tree("s {\r\n  k = v\r\n}\r\n")).toEqual({ s: { k: "v" } });
    expect(tree("\uFEFFa = b")).toEqual({ a: "b" });
  });

  test("'::' in a name stands for ':'", () => {
    expect(tree("c::\\log {\n x = 1\n}")).toEqual({ "c:\\log": { x: "1" } });
  });

  test("a section defined twice is merged, a key defined twice keeps the last value", () => {
    const sec = parseSettings("s { a = 1\n b = 2 }\nt { }\ns { a = 3\n c = 4 }\n").root;
    expect(settingsToObject(sec)).toEqual({ s: { a: "3", b: "2", c: "4" }, t: {} });
    expect([...sec.sections.keys()]).toEqual(["s", "t"]);
    expect([...sec.sections.get("s")!.values.keys()]).toEqual(["a", "b", "c"]);
    expect(sec.sections.get("s")!.values.get("a")!.loc).toEqual({ file: undefined, line: 4, column: 5 });
  });

  test("include is a key when '=' follows", () => {
    expect(tree("include = x\ninclude\t=y")).toEqual({ include: "y" });
  });

  describe("references (name : a, b { })", () => {
    test("inherit keys and sections; own settings win; left reference before right", () => {
      const t = tree(`
a { x = a
    y = a
    sub { p = a } }
b { x = b
    z = b
    sub { q = b } }
connections {
  c : a, b {
    y = own
    sub { r = own }
  }
}`);
      expect((t as any).connections.c).toEqual({ y: "own", x: "a", z: "b", sub: { r: "own", p: "a", q: "b" } });
    });

    test("transitive, forward, absolute names, and whitespace/newlines around ':' and ','", () => {
      const t = tree(`
connections {
  c3 :
     connections.c1 ,
     extra {
  }
  c1 : base {
    children { ch : child-base { } }
  }
}
base { version = 2 }
child-base { mode = transport }
extra { k = e }`);
      expect((t as any).connections.c3).toEqual({ version: "2", k: "e", children: { ch: { mode: "transport" } } });
    });

    test("an empty assignment shadows an inherited value", () => {
      expect((tree("t { a = 1 }\ns : t { a = }") as any).s).toEqual({ a: null });
    });

    test("the referenced section itself is unchanged and reported as referenced", () => {
      const { root, referenced } = resolveReferences(parseSettings("t { a = 1 }\ns : t { b = 2 }").root);
      expect(settingsToObject(root)).toEqual({ t: { a: "1" }, s: { b: "2", a: "1" } });
      expect([...referenced]).toEqual(["t"]);
    });

    test("unknown references and cycles are refused", () => {
      let e = err(() => tree("s : nope { }"));
      expect([e.line, e.column, e.key, e.reason]).toEqual([1, 5, "s", "references section 'nope', which does not exist"]);
      e = err(() => tree("a : b { }\nb : c { }\nc : a { }"));
      expect(e.reason).toBe("reference cycle: a -> b -> c -> a");
      expect([e.key, e.line]).toEqual(["c", 3]);
      e = err(() => tree("a { b : a { } }"));
      expect(e.reason).toBe("reference cycle: a -> a.b -> a");
      e = err(() => tree("a : { }"));
      expect(e.reason).toBe("expected the name of a section to reference, found '{'");
      e = err(() => tree("a : b c { }"));
      expect(e.reason).toBe("expected '{' after the references of section 'a', found 'c'");
    });
  });

  describe("include", () => {
    test("relative to the including file, into the enclosing section, globs sorted, quoted names", () => {
      const file = `${FIX}include/main.conf`;
      const { root, files } = loadSettings(`include main.conf`, { file: `${FIX}include/x.conf` });
      expect(settingsToObject(root)).toEqual({
        a: "top",
        "section-one": { somevalue: "asdf", yetanother: "zz", subsection: { othervalue: "xxx" } },
        "section-two": { x: "12" },
        order: "b",
        quoted: "included",
      });
      expect(files.map((f) => posix.relative(`${FIX}include`, f))).toEqual([
        "x.conf",
        "main.conf",
        "one.conf",
        "conf.d/10-a.conf",
        "conf.d/20-b.conf",
        "with space.conf",
      ]);
      // hidden files are not matched by '*'
      expect(JSON.stringify(settingsToObject(root))).not.toContain("hidden");
      expect(file).toContain("main.conf");
    });

    test("a glob matching nothing is fine, a missing literal file is not", () => {
      expect(settingsToObject(loadSettings("include nomatch.conf", { file: `${FIX}include/y.conf` }).root)).toEqual({ x: "1" });
      const e = err(() => loadSettings("include missing.conf", { file: `${FIX}include/y.conf` }));
      expect(e.file).toBe(`${FIX}include/missing.conf`);
      expect([e.line, e.column, e.key, e.reason]).toEqual([2, 1, "include", "included file 'does-not-exist.conf' does not exist"]);
    });

    test("cycles are detected and named", () => {
      const e = err(() => loadConfigFile(`${FIX}include/cycle/a.conf`));
      expect(e.file).toBe(`${FIX}include/cycle/b.conf`);
      expect([e.line, e.key]).toEqual([3, "include"]);
      expect(e.reason).toBe(`include cycle: ${FIX}include/cycle/a.conf -> ${FIX}include/cycle/b.conf -> ${FIX}include/cycle/a.conf`);
      // a glob that matches the including file itself
      const host = memHost({ "/etc/s.conf": "a = 1\ninclude *.conf\n", "/etc/t.conf": "b = 2\n" });
      const e2 = err(() => parseSettings(host.readFile("/etc/s.conf"), { file: "/etc/s.conf", host }));
      expect(e2.reason).toBe("include cycle: /etc/s.conf -> /etc/s.conf");
    });

    test("escapes in unquoted patterns, include inside sections with a memory host", () => {
      const host = memHost({
        "/c/main.conf": "s {\n  include sub/a\\ b.conf # comment\n}\ninclude /abs/*.conf\n",
        "/c/sub/a b.conf": "k = v\n",
        "/abs/1.conf": "one = 1\n",
        "/abs/2.conf": "two = 2\n",
      });
      expect(tree(host.readFile("/c/main.conf"), host, "/c/main.conf")).toEqual({ s: { k: "v" }, one: "1", two: "2" });
    });

    test("every included file closes what it opens; include needs a pattern and file access", () => {
      let e = err(() => loadConfigFile(`${FIX}include/unbalanced.conf`));
      expect(e.file).toBe(`${FIX}include/unbalanced-part.conf`);
      expect([e.line, e.key, e.reason]).toEqual([1, "s.t", "section 't' opened at line 1 is not closed (missing '}')"]);
      e = err(() => parseSettings("include   \n", { host: memHost({}) }));
      expect([e.line, e.reason]).toEqual([1, "include without a file pattern"]);
      e = err(() => parseSettings("include x.conf"));
      expect(e.reason).toBe("cannot include 'x.conf': no file access (load the configuration from a file)");
      e = err(() => parseSettings("include a.conf", { file: "/m.conf", host: memHost({ "/m.conf": "include a.conf", "/a.conf": "include m.conf" }), maxIncludeDepth: 1 }));
      expect(e.reason).toBe("includes nested deeper than 1 levels");
    });
  });

  describe("syntax errors carry file, line, column, key and reason", () => {
    const cases: [string, string, number, number, string, string][] = [
      ["unterminated string", 's {\n  k = "abc\n}', 2, 7, "s.k", "unterminated quoted string"],
      ["unterminated escape", 'k = "abc\\', 1, 5, "k", "unterminated quoted string"],
      ["stray brace", "a = 1\n}", 2, 1, "", "unexpected '}' without an open section"],
      ["unclosed", "a {\n b {\n }\n", 1, 1, "a", "section 'a' opened at line 1 is not closed (missing '}')"],
      ["no name", "{ }", 1, 1, "", "section without a name before '{'"],
      ["no key", "s {\n = 1\n}", 2, 2, "s", "missing key name before '='"],
      ["missing =", "key value", 1, 5, "key", "expected '=' or '{' after 'key', found 'value'"],
      ["missing = before newline", "s {\n key\n value = 1\n}", 3, 2, "s.key", "expected '=' or '{' after 'key', found 'value'"],
      ["name at end", "s { key }", 1, 9, "s.key", "expected '=' or '{' after 'key', found '}'"],
      ["name at eof", "key", 1, 4, "key", "expected '=' or '{' after 'key', found end of file"],
      ["dot", "a.b = 1", 1, 2, "a", "'.' is not allowed in a key or section name ('a.')"],
      ["comma", ", = 1", 1, 1, "", "unexpected ','"],
      ["quoted name", 's {\n "k" = v }', 2, 2, "s", "unexpected quoted string: only values and include patterns may be quoted"],
      ["key then section", "a = 1\na { }", 2, 1, "a", "'a' is already a key here; a section may not share its name"],
      ["section then key", "a { }\na = 1", 2, 1, "a", "'a' is already a section here; a key may not share its name"],
    ];
    test.each(cases)("%s", (_n, text, line, column, key, reason) => {
      const e = err(() => parseSettings(text, { file: "/etc/x.conf" }));
      expect(e).toBeInstanceOf(IpsecError);
      expect(e.code).toBe("ERR_CONFIG");
      expect({ file: e.file, line: e.line, column: e.column, key: e.key, reason: e.reason }).toEqual({
        file: "/etc/x.conf",
        line,
        column,
        key,
        reason,
      });
      expect(e.message).toBe(`/etc/x.conf:${line}:${column}: ${key ? key + ": " : ""}${reason}`);
    });
  });
});

describe("JSON and objects", () => {
  test("JSON: arrays become comma lists, booleans yes/no, numbers text, null no value", () => {
    const t = settingsToObject(parseJsonSettings('{"a":[1,"b"],"c":true,"d":false,"e":null,"f":{"g":1.5},"h":[]}'));
    expect(t).toEqual({ a: "1,b", c: "yes", d: "no", e: null, f: { g: "1.5" }, h: null });
  });

  test("JSON keys carry their line and column; duplicate keys: the last wins, sections merge", () => {
    const s = parseJsonSettings('{\n  "s": {"a": 1, "b": 2},\n  "s": {"a": 3}\n}', "x.json");
    expect(settingsToObject(s)).toEqual({ s: { a: "3", b: "2" } });
    expect(s.sections.get("s")!.values.get("a")!.loc).toEqual({ file: "x.json", line: 3, column: 9 });
  });

  test("JSON errors", () => {
    const cases: [string, number, number, string, string][] = [
      ['{"a": 1,}', 1, 9, "", "JSON: expected a string, found '}'"],
      ['{"a" 1}', 1, 6, "a", "JSON: expected ':', found '1'"],
      ['{"a": [{}]}', 1, 8, "a", "JSON: list elements must be strings or numbers"],
      ['{"a": tru}', 1, 7, "a", "JSON: unexpected 't'"],
      ['{"a": "x', 1, 7, "a", "JSON: unterminated string"],
      ['{"a": 1} x', 1, 10, "", "JSON: unexpected 'x' after the top-level object"],
      ['{"a b": 1}', 1, 2, "a b", 'invalid name "a b": names may not be empty or contain . , { } = " # or white space'],
      ['{"a": 1, "a": {}}', 1, 10, "a", "'a' is already a key here; a section may not share its name"],
    ];
    for (const [text, line, column, key, reason] of cases) {
      const e = err(() => parseJsonSettings(text, "j.json"));
      expect({ line: e.line, column: e.column, key: e.key, reason: e.reason }).toEqual({ line, column, key, reason });
    }
  });

  test("JS objects: the same shape; only plain objects and scalars", () => {
    expect(settingsToObject(settingsFromObject({ a: { b: [1, 2], c: undefined, d: 7n } }))).toEqual({ a: { b: "1,2", d: "7" } });
    expect(err(() => settingsFromObject({ a: new Date() })).reason).toBe("only plain objects can be sections");
    expect(err(() => settingsFromObject({ a: () => 1 })).reason).toBe("a function cannot be a configuration value");
    expect(err(() => settingsFromObject({ a: NaN })).reason).toBe("NaN is not a usable number");
    expect(err(() => settingsFromObject([])).reason).toBe("a configuration object must be a plain object");
  });
});

describe("values", () => {
  test("durations as strongSwan's strtoul(…, 0) and units read them", () => {
    expect(parseTime("90")).toBe(90);
    expect(parseTime("30s")).toBe(30);
    expect(parseTime("5m")).toBe(300);
    expect(parseTime("4h")).toBe(14400);
    expect(parseTime("2d")).toBe(172800);
    expect(parseTime("1 H")).toBe(3600);
    expect(parseTime("0x10")).toBe(16);
    expect(parseTime("010")).toBe(8); // octal, as strtoul base 0
    expect(parseTime("0")).toBe(0);
    for (const bad of ["1w", "", "s", "-1", "+5", "1.5h", "08", "1hh", " 5"]) expect(() => parseTime(bad)).toThrow();
  });

  test("byte counts with k, m, g as powers of 1024", () => {
    expect(parseBytes("1000")).toBe(1000);
    expect(parseBytes("1k")).toBe(1024);
    expect(parseBytes("2M")).toBe(2 * 1024 ** 2);
    expect(parseBytes("4g")).toBe(4 * 1024 ** 3);
    expect(parseBytes("0x10k")).toBe(16384);
    expect(() => parseBytes("1t")).toThrow();
    expect(() => parseBytes("99999999999g")).toThrow(/too large/);
  });

  test("IPv6 text is canonical (RFC 5952 section 4 examples)", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
      ["2001:db8::0:1", "2001:db8::1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:DB8::AAAA", "2001:db8::aaaa"],
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
      ["::ffff:c000:201", "::ffff:192.0.2.1"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ];
    for (const [i, o] of cases) expect(canonicalIP(i)).toBe(o);
    for (const bad of ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "1:2:3:4:5:6:7", "::g", "fe80::1%eth0", "1:2:3:4:5:6:7::8", "1.2.3.4::"])
      expect(parseIPv6(bad)).toBeNull();
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4.5"]) expect(canonicalIP(bad)).toBeNull();
    expect(formatIPv6(parseIPv6("1:0:0:2:0:0:0:3")!)).toBe("1:0:0:2::3");
  });

  test("prefixes: host bits refused with the fix named, bare addresses are host prefixes", () => {
    expect(parsePrefix("2001:DB8:2::/48")).toEqual({ family: 6, address: "2001:db8:2::", length: 48 });
    expect(parsePrefix("192.0.2.7")).toEqual({ family: 4, address: "192.0.2.7", length: 32 });
    expect(() => parsePrefix("2001:db8:2::1/48")).toThrow("host bits are set in '2001:db8:2::1/48' (did you mean 2001:db8:2::/48?)");
    expect(() => parsePrefix("10.1.2.3/8")).toThrow("did you mean 10.0.0.0/8?");
    expect(() => parsePrefix("::/129")).toThrow("'129' is not a prefix length for IPv6 (0 to 128) in '::/129'");
    expect(() => parsePrefix("::/08")).toThrow();
  });

  test("traffic selectors: dynamic, prefixes, ranges, [proto/port]", () => {
    expect(parseTrafficSelector("dynamic[41]")).toEqual({ kind: "dynamic", protocol: 41, port: null });
    expect(parseTrafficSelector("dynamic[ipv6]")).toEqual({ kind: "dynamic", protocol: 41, port: null });
    expect(parseTrafficSelector("0.0.0.0/0[udp/4500]")).toEqual({
      kind: "subnet", family: 4, address: "0.0.0.0", length: 0, protocol: 17, port: { from: 4500, to: 4500 },
    });
    expect(parseTrafficSelector("2001:db8::/32[tcp/1024-2048]")).toMatchObject({ protocol: 6, port: { from: 1024, to: 2048 } });
    expect(parseTrafficSelector("::/0[/https]")).toMatchObject({ protocol: 0, port: { from: 443, to: 443 } });
    expect(parseTrafficSelector("::/0[any/opaque]")).toMatchObject({ protocol: 0, port: "opaque" });
    expect(parseTrafficSelector("::/0[0x3a]")).toMatchObject({ protocol: 58 });
    expect(parseTrafficSelector("10.0.0.1-10.0.0.9")).toEqual({
      kind: "range", family: 4, from: "10.0.0.1", to: "10.0.0.9", protocol: 0, port: null,
    });
    for (const [bad, msg] of [
      ["dynamic[41", "must end with ']'"],
      ["dynamic[999]", "protocol 999 is out of range (0 to 255)"],
      ["dynamic[tcp/70000]", "port 70000 is out of range"],
      ["dynamic[tcp/9-3]", "port range '9-3' ends before it starts"],
      ["10.0.0.9-10.0.0.1", "range '10.0.0.9-10.0.0.1' ends before it starts"],
      ["10.0.0.1-::1", "different address families"],
      ["nonsense", "'nonsense' is not an IPv4 or IPv6 address"],
    ] as const)
      expect(() => parseTrafficSelector(bad)).toThrow(msg);
  });

  test("IKE addresses and identities", () => {
    expect(parseAddressSpec("%any")).toEqual({ kind: "any" });
    expect(parseAddressSpec("%any6")).toEqual({ kind: "any", family: 6 });
    expect(parseAddressSpec("192.0.2.0/24")).toEqual({ kind: "subnet", family: 4, address: "192.0.2.0", length: 24 });
    expect(parseAddressSpec("192.0.2.10-192.0.2.20")).toMatchObject({ kind: "range", from: "192.0.2.10" });
    expect(parseAddressSpec("VPN.Example.org.")).toEqual({ kind: "fqdn", name: "vpn.example.org" });
    expect(() => parseAddressSpec("1.2.3.999")).toThrow("is not an IP address, subnet, range, DNS name or %any");
    const ids: [string, string, string][] = [
      ["192.0.2.1", "ipv4", "192.0.2.1"],
      ["2001:DB8::1", "ipv6", "2001:db8::1"],
      ["moon.strongswan.org", "fqdn", "moon.strongswan.org"],
      ["@moon", "fqdn", "moon"],
      ["carol@strongswan.org", "rfc822", "carol@strongswan.org"],
      ["@@carol", "rfc822", "carol"],
      ["C=CH, O=strongSwan, CN=moon", "dn", "C=CH, O=strongSwan, CN=moon"],
      ["@#0A0b", "keyid", "#0a0b"],
      ["keyid:#00ff", "keyid", "#00ff"],
      ["fqdn:x", "fqdn", "x"],
      ["email:a@b", "rfc822", "a@b"],
      ["{42}:x", "custom", "{42}:x"],
      ["%any", "any", "%any"],
    ];
    for (const [t, type, value] of ids) expect(parseIdentity(t)).toEqual({ type, value });
    expect(() => parseIdentity("@#0g")).toThrow();
    expect(() => parseIdentity("two words")).toThrow("a DN needs attribute=value");
  });

  test("proposals parse into algorithm components", () => {
    const ike = parseIkeProposal("aes128gcm16-prfsha256-ecp256");
    expect(ike).toEqual({
      ok: true,
      proposal: {
        text: "aes128gcm16-prfsha256-ecp256",
        isDefault: false,
        encryption: [{ keyword: "aes128gcm16", cipher: "aes-gcm", keyBits: 128, icvBytes: 16, aead: true, implemented: true }],
        integrity: [],
        prf: ["prfsha256"],
        ke: ["ecp256"],
        additionalKe: [],
      },
    });
    const classic = parseIkeProposal("AES256-SHA256-MODP2048");
    expect(classic.ok && classic.proposal).toMatchObject({
      encryption: [{ keyword: "aes256", cipher: "aes-cbc", keyBits: 256, aead: false, implemented: false }],
      integrity: ["sha256"],
      prf: ["prfsha256"], // derived from the integrity algorithm, as strongSwan does
      ke: ["modp2048"],
    });
    const pq = parseIkeProposal("aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_none");
    expect(pq.ok && pq.proposal).toMatchObject({ ke: ["curve25519"], additionalKe: [["mlkem768"], ["none"]] });
    const esp = (t: string) => {
      const r = parseEspProposal(t);
      if (!r.ok) throw new Error(r.reason);
      return r.proposal;
    };
    expect(esp("aes256gcm16-esn")).toMatchObject({ encryption: [{ keyBits: 256, icvBytes: 16 }], esn: ["esn"] });
    expect(esp("aes128gcm8")).toMatchObject({ encryption: [{ icvBytes: 8, implemented: true }], esn: ["noesn"] });
    expect(esp("aes128gcm12-esn-noesn")).toMatchObject({ encryption: [{ icvBytes: 12 }], esn: ["esn", "noesn"] });
    expect(esp("aes192gcm96")).toMatchObject({ encryption: [{ keyword: "aes192gcm12", keyBits: 192, icvBytes: 12 }] });
    expect(esp("chacha20poly1305-noesn")).toMatchObject({
      encryption: [{ cipher: "chacha20-poly1305", aead: true, implemented: true }],
      esn: ["noesn"],
    });
    expect(esp("aes128gcm16-sha256-modp2048")).toMatchObject({ integrity: [], ke: ["modp2048"] });
    expect(esp("aes128-sha1")).toMatchObject({ integrity: ["sha1"] });
    const refusals: [string, "ike" | "esp", string][] = [
      ["aes128gcm16-ecp256", "ike", "'aes128gcm16-ecp256' needs a PRF (e.g. prfsha256) with an AEAD cipher"],
      ["aes128-sha256", "ike", "'aes128-sha256' needs a key exchange method (e.g. ecp256, curve25519, modp2048)"],
      ["sha256-ecp256", "ike", "'sha256-ecp256' has no encryption algorithm"],
      ["aes128-aes128gcm16-sha256-ecp256", "ike", "'aes128-aes128gcm16-sha256-ecp256' mixes AEAD and classic encryption algorithms"],
      ["aes128", "esp", "'aes128' needs an integrity algorithm (or an AEAD cipher such as aes128gcm16)"],
      ["aes128gcm16-esn", "ike", "'esn' (extended sequence numbers) only applies to ESP proposals"],
      ["aes128gcm16-prfsha256", "esp", "'prfsha256' is a PRF, which only IKE proposals take"],
      ["aes128gcm17", "esp", "unknown algorithm keyword 'aes128gcm17' in 'aes128gcm17'"],
      ["aes128gcm16--esn", "esp", "empty algorithm keyword in 'aes128gcm16--esn'"],
      ["aes128gcm16-ke9_ecp256", "esp", "unknown algorithm keyword 'ke9_ecp256' in 'aes128gcm16-ke9_ecp256'"],
    ];
    for (const [t, proto, reason] of refusals)
      expect(proto === "ike" ? parseIkeProposal(t) : parseEspProposal(t)).toEqual({ ok: false, reason });
  });
});

describe("model", () => {
  test("defaults, as strongSwan's swanctl applies them", () => {
    const c = loadConfig(`connections { gw { children { net { local_ts = 2001:db8:1::/48
 remote_ts = ::/0 } } } }`);
    const gw = c.connections.gw;
    expect(gw).toMatchObject({
      version: 0,
      local_addrs: [{ kind: "any" }],
      remote_addrs: [{ kind: "any" }],
      local_port: 500,
      remote_port: 500,
      encap: false,
      mobike: true,
      fragmentation: "yes",
      keyingtries: 1,
      dpd_delay: 0,
      rekey_time: 14400,
      reauth_time: 0,
      over_time: 1440,
      rand_time: 1440,
      local: { auth: "pubkey", id: null, certs: [], pubkeys: [] },
      remote: { auth: "pubkey", id: { type: "any", value: "%any" }, certs: [], cacerts: [], pubkeys: [] },
    });
    expect(gw.proposals.map((p) => p.text)).toEqual(["default", "default"]);
    expect(gw.proposals.every((p) => p.isDefault)).toBe(true);
    expect(gw.children.net).toMatchObject({
      mode: "tunnel",
      start_action: "none",
      close_action: "none",
      dpd_action: "none",
      rekey_time: 3600,
      life_time: 3960,
      rand_time: 360,
      rekey_bytes: 0,
      life_bytes: 0,
      rand_bytes: 0,
      rekey_packets: 0,
      life_packets: 0,
      rand_packets: 0,
      replay_window: 32,
      inactivity: 0,
    });
    expect(gw.children.net.esp_proposals[0].encryption.map((e) => e.keyword)).toEqual([
      "aes128gcm16", "aes192gcm16", "aes256gcm16", "chacha20poly1305",
    ]);
    expect(c.tunnels).toEqual({});
    expect(c.links).toEqual([]);
  });

  test("lifetimes derived as strongSwan derives them", () => {
    const c = loadConfig(CONN("        reauth_time = 2h", "        rekey_bytes = 1m\n        life_packets = 1000\n        rekey_time = 20m"));
    expect(c.connections.gw).toMatchObject({ rekey_time: 0, reauth_time: 7200, over_time: 720, rand_time: 720 });
    expect(c.connections.gw.children.net).toMatchObject({
      rekey_time: 1200, life_time: 1320, rand_time: 120,
      rekey_bytes: 1048576, life_bytes: 1153433, rand_bytes: 104857,
      rekey_packets: 0, life_packets: 1000, rand_packets: 1000,
    });
  });

  test("booleans, actions and their aliases", () => {
    const c = loadConfig(
      CONN(
        "        encap = TRUE\n        mobike = disabled\n        fragmentation = force",
        "        start_action = trap|start\n        close_action = hold\n        dpd_action = restart",
      ),
    );
    expect(c.connections.gw).toMatchObject({ encap: true, mobike: false, fragmentation: "force" });
    expect(c.connections.gw.children.net).toMatchObject({ start_action: "trap|start", close_action: "trap", dpd_action: "start" });
  });

  test("secrets: ASCII, 0x hex and 0s base64; ids of any suffix", () => {
    const c = loadConfig(`secrets {
  ike-a { secret = "pass word" }
  ike-b { id = 192.0.2.1
    id-peer = moon.strongswan.org
    idx = "@#0102"
    secret = 0x0102AB }
  ikec { secret = 0sAQID }
}`);
    expect(c.secrets["ike-a"]).toEqual({ name: "ike-a", ids: [], secret: new TextEncoder().encode("pass word") });
    expect(c.secrets["ike-b"]).toEqual({
      name: "ike-b",
      ids: [
        { type: "ipv4", value: "192.0.2.1" },
        { type: "fqdn", value: "moon.strongswan.org" },
        { type: "keyid", value: "#0102" },
      ],
      secret: Uint8Array.of(1, 2, 0xab),
    });
    expect(c.secrets.ikec.secret).toEqual(Uint8Array.of(1, 2, 3));
    for (const [s, reason] of [
      ["0x12g4", "the secret after '0x' is not an even number of hex digits"],
      ["0s!!", "the secret after '0s' is not valid base64"],
      ['""', "the secret is empty"],
    ]) {
      const e = err(() => loadConfig(`secrets {\n ike { secret = ${s} }\n}`));
      expect([e.key, e.line, e.reason]).toEqual(["secrets.ike.secret", 2, reason]);
      if (s.length > 2) expect(e.message).not.toContain(s.slice(2)); // never echo key material
    }
    expect(err(() => loadConfig("secrets { ike { id = x } }")).reason).toBe("an IKE secret needs 'secret = …'");
    const e = err(() => loadConfig("secrets {\n ike {\n  secret hunter2\n }\n}"));
    expect(e.reason).toBe("expected '=' or '{' after 'secret', found text (not shown: it may be a secret)");
    expect(e.message).not.toContain("hunter2");
  });

  test("tunnels: defaults, canonical text, allow defaults to routes", () => {
    const c = loadConfig(`tunnels { t1 {
 local = 192.0.2.1
 remote = 192.0.2.2
 address = 2001:DB8:1:0::1/64
 routes = 2001:db8:2::/48, 2001:0db8:0003::/48
} }`);
    expect(c.tunnels.t1).toEqual({
      name: "t1",
      local: "192.0.2.1",
      remote: "192.0.2.2",
      address: { address: "2001:db8:1::1", length: 64 },
      routes: [
        { family: 6, address: "2001:db8:2::", length: 48 },
        { family: 6, address: "2001:db8:3::", length: 48 },
      ],
      allow: [
        { family: 6, address: "2001:db8:2::", length: 48 },
        { family: 6, address: "2001:db8:3::", length: 48 },
      ],
      mtu: 1280,
      protected_by: [],
    });
  });

  test("tunnel values refused", () => {
    const t = (body: string) => err(() => loadConfig(`tunnels {\n t1 {\n  local = 192.0.2.1\n  remote = 192.0.2.2\n  ${body}\n }\n}`));
    const cases: [string, string, string][] = [
      ["local = 224.0.0.1", "tunnels.t1.local", "'224.0.0.1' is a multicast address"],
      ["local = 0.0.0.0", "tunnels.t1.local", "'0.0.0.0' is the unspecified address"],
      ["remote = 255.255.255.255", "tunnels.t1.remote", "'255.255.255.255' is the broadcast address"],
      ["remote = 192.0.2.1", "tunnels.t1.remote", "the remote endpoint equals the local one (192.0.2.1)"],
      ["address = 192.0.2.9/24", "tunnels.t1.address", "'192.0.2.9/24' is not IPv6; the tunnel interface carries IPv6"],
      ["address = ff02::1/64", "tunnels.t1.address", "'ff02::1/64' is a multicast address"],
      ["address = ::1/128", "tunnels.t1.address", "'::1/128' is the unspecified or loopback address"],
      ["address = ::ffff:192.0.2.1/128", "tunnels.t1.address", "'::ffff:192.0.2.1/128' is an IPv4-mapped or IPv4-compatible address"],
      ["routes = 2001:db8::/32,", "tunnels.t1.routes", "empty element in list '2001:db8::/32,'"],
      ["mtu = 1279", "tunnels.t1.mtu", "mtu 1279 is below the IPv6 minimum of 1280 (RFC 4213 3.2)"],
      ["mtu = 65516", "tunnels.t1.mtu", "mtu 65516 does not fit in an IPv4 packet (at most 65515)"],
      ["mtu = 0x600", "tunnels.t1.mtu", "'0x600' is not a decimal number"],
      ["mtu {\n}", "tunnels.t1.mtu", "'mtu' is a key (mtu = …), not a section"],
    ];
    for (const [body, key, reason] of cases) {
      const e = t(body);
      // the later definition of a key wins, and is the one reported
      expect([e.key, e.line, e.reason]).toEqual([key, 5, reason]);
    }
  });

  test("children and connections refused", () => {
    const cases: [string, string, string, string][] = [
      ["", "        mode = pass", "connections.gw.children.net.mode", "mode 'pass' is not supported by ipsec6in4 (tunnel or transport)"],
      ["", "        mode = tunel", "connections.gw.children.net.mode", "'tunel' is not an IPsec mode (tunnel or transport)"],
      ["", "        start_action = go", "connections.gw.children.net.start_action", "'go' is not an action (none, trap or start; clear, hold and restart are aliases)"],
      ["", "        replay_window = 131072", "connections.gw.children.net.replay_window", "replay_window 131072 is not usable: ipsec6in4 needs 0 (disabled) or a power of two from 32 to 65536"],
      ["", "        rekey_packets = 10k", "connections.gw.children.net.rekey_packets", "'10k' is not a number"],
      ["", "        local_ts = dynamic[41], 192.0.2.0/24[41]\n        remote_ts = dynamic[tcp]", "connections.gw.children.net.remote_ts", "protocol 6: transport mode here carries IPv6-in-IPv4 (protocol 41), so the selector must allow protocol 41 (e.g. dynamic[41])"],
      ["", "        esp_proposals = aes128gcm16, bogus", "connections.gw.children.net.esp_proposals", "unknown algorithm keyword 'bogus' in 'bogus'"],
      ["", "        rekey_packets = 100\n        life_packets = 100", "connections.gw.children.net.life_packets", "life_packets (100 packets) must be greater than rekey_packets (100 packets), or the SA expires before it is rekeyed"],
      ["        version = 3", "", "connections.gw.version", "'3' is not an IKE version (0 or 2)"],
      ["        local_port = 65536", "", "connections.gw.local_port", "65536 is out of range (0 to 65535)"],
      ["        remote_addrs = 192.0.2.2/24", "", "connections.gw.remote_addrs", "host bits are set in '192.0.2.2/24' (did you mean 192.0.2.0/24?)"],
      ["        encap = maybe", "", "connections.gw.encap", "'maybe' is not a boolean (yes or no)"],
      ["        dpd_delay = 10 years", "", "connections.gw.dpd_delay", "'10 years' is not a duration (a number with an optional unit s, m, h or d)"],
      ["        local {\n          auth = rsa-2048\n        }", "", "connections.gw.local.auth", "'rsa-2048': signature scheme constraints are not supported by ipsec6in4 (psk or pubkey)"],
      ["        local {\n          id = two words\n        }", "", "connections.gw.local.id", "'two words' is not an identity (a DN needs attribute=value, e.g. \"C=CH, O=org, CN=host\")"],
      ["        local-2 {\n        }", "", "connections.gw.local-2", "not supported by ipsec6in4: multiple authentication rounds (local<suffix>/remote<suffix> sections) (set allowUnsupported to accept and list it)"],
      ["        remote {\n          cacert1 {\n          }\n        }", "", "connections.gw.remote.cacert1", "not supported by ipsec6in4: certificate sections on tokens (cacert<suffix> { }) (set allowUnsupported to accept and list it)"],
      ["        remote_addr = 192.0.2.2", "", "connections.gw.remote_addr", "unknown key 'remote_addr' (did you mean 'remote_addrs'?)"],
      ["        __proto__ {\n        }", "", "connections.gw.__proto__", "unknown section '__proto__'"],
    ];
    for (const [extra, child, key, reason] of cases) {
      const e = err(() => loadConfig(CONN(extra, child)));
      expect([e.key, e.reason]).toEqual([key, reason]);
      expect(e.line).toBeGreaterThan(0);
    }
    expect(err(() => loadConfig("connections { __proto__ { } }")).reason).toBe("'__proto__' is reserved and cannot name a section");
    expect(err(() => loadConfig("connections { gw { children { net { } } } }")).reason).toMatch(/^'dynamic': tunnel mode carries IPv6/);
    expect(err(() => loadConfig("connections { gw { children { x = 1 } } }")).reason).toBe("unknown key 'x'");
    expect(err(() => loadConfig("connections { gw { children { } } }")).reason).toBe("a connection needs at least one child (children { name { … } })");
  });

  test("unsupported strongSwan keys: refused by default, accepted and listed on request", () => {
    const text = CONN("        vips = 0.0.0.0\n        unique = replace", "        updown = /usr/lib/ipsec/_updown", "pools { p { addrs = 10.3.0.0/16 } }");
    const e = err(() => loadConfig(text, { file: "u.conf" }));
    expect(e.errors.map((x) => [x.key, x.line])).toEqual([
      ["connections.gw.children.net.updown", 12],
      ["connections.gw.vips", 6],
      ["connections.gw.unique", 7],
      ["pools", 17],
    ]);
    const c = loadConfig(text, { file: "u.conf", allowUnsupported: true });
    expect(c.ignored).toEqual([
      { key: "connections.gw.children.net.updown", file: "u.conf", line: 12, reason: "not supported by ipsec6in4: updown scripts (updown)" },
      { key: "connections.gw.vips", file: "u.conf", line: 6, reason: "not supported by ipsec6in4: virtual IPs (vips)" },
      { key: "connections.gw.unique", file: "u.conf", line: 7, reason: "not supported by ipsec6in4: uniqueness policy (unique)" },
      { key: "pools", file: "u.conf", line: 17, reason: "not supported by ipsec6in4: address pools (pools)" },
    ]);
    // unknown keys stay refused either way
    expect(err(() => loadConfig(CONN("        bogus = 1"), { allowUnsupported: true })).reason).toBe("unknown key 'bogus'");
  });

  test("all problems are collected, the first is thrown", () => {
    const e = err(() => loadConfig("tunnels {\n t1 {\n  local = x\n  remote = y\n  mtu = 1\n }\n}\nfoo = 1\n"));
    expect(e.errors.map((x) => `${x.line}:${x.key}`)).toEqual(["3:tunnels.t1.local", "4:tunnels.t1.remote", "5:tunnels.t1.mtu", "8:foo"]);
    expect(e).toBe(e.errors[0]);
  });

  test("PSK needs a matching secret; an id-less secret matches anyone", () => {
    const psk = CONN("        local {\n          auth = psk\n        }\n        remote {\n          auth = psk\n          id = peer.example.org\n        }");
    expect(err(() => loadConfig(psk)).reason).toBe("psk authentication, but no secrets.ike<suffix> entry has an id matching 192.0.2.1, peer.example.org");
    expect(loadConfig(psk + "secrets { ike { id = peer.example.org\n secret = s } }").secrets.ike.ids).toHaveLength(1);
    expect(loadConfig(psk + "secrets { ike { id = 192.0.2.1\n secret = s } }").secrets.ike.ids).toHaveLength(1);
    expect(loadConfig(psk + "secrets { ike { secret = s } }").secrets.ike.ids).toHaveLength(0);
    expect(loadConfig(psk + "secrets { ike { id = %any\n secret = s } }").secrets.ike.ids).toEqual([{ type: "any", value: "%any" }]);
  });

  test("templates: top-level sections only referenced are not checked themselves", () => {
    const c = loadConfig(`defaults { local_addrs = 192.0.2.1
 remote_addrs = 192.0.2.2 }
connections { gw : defaults { children { c : child { } } } }
child { mode = transport
 local_ts = dynamic[41] }
tunnels { t : tdef { } }
tdef { local = 192.0.2.1
 remote = 192.0.2.2 }`);
    expect(c.connections.gw.local_addrs).toEqual([{ kind: "address", family: 4, address: "192.0.2.1" }]);
    expect(c.links).toEqual([{ tunnel: "t", connection: "gw", children: ["c"], exact: true }]);
    // an inherited bad value is reported where it is written
    const e = err(() => loadConfig("d {\n mobike = perhaps\n}\nconnections { gw : d { children { c { local_ts = ::/0\nremote_ts = ::/0 } } } }", { file: "t.conf" }));
    expect([e.key, e.file, e.line]).toEqual(["connections.gw.mobike", "t.conf", 2]);
  });

  test("tunnel <-> connection links", () => {
    const base = (conn: string, child = "        mode = transport\n        local_ts = dynamic[41]") => `
connections {
  c {
${conn}
    children {
      ch {
${child}
      }
    }
  }
}
tunnels {
  t { local = 192.0.2.1
      remote = 192.0.2.2 }
  u { local = 192.0.2.1
      remote = 198.51.100.9 }
}`;
    const links = (conn: string, child?: string): Config["links"] => loadConfig(base(conn, child)).links;
    expect(links("    local_addrs = 192.0.2.1\n    remote_addrs = 192.0.2.2")).toEqual([{ tunnel: "t", connection: "c", children: ["ch"], exact: true }]);
    expect(links("    remote_addrs = 192.0.2.0/24")).toEqual([{ tunnel: "t", connection: "c", children: ["ch"], exact: false }]);
    expect(links("    remote_addrs = %any4").map((l) => l.tunnel)).toEqual(["t", "u"]);
    expect(links("    remote_addrs = %any6")).toEqual([]);
    expect(links("    remote_addrs = 192.0.2.2-192.0.2.9\n    local_addrs = 192.0.2.1, 10.0.0.1")).toMatchObject([{ tunnel: "t", exact: false }]);
    expect(links("    remote_addrs = gw.example.org")).toEqual([]);
    // a transport child whose selectors do not cover the endpoints does not carry the tunnel
    expect(links("    remote_addrs = 192.0.2.2", "        mode = transport\n        local_ts = 10.0.0.0/8[41]")).toEqual([]);
    const c = loadConfig(base("    remote_addrs = 192.0.2.2"));
    expect(c.tunnels.t.protected_by).toEqual(["c"]);
    expect(c.tunnels.u.protected_by).toEqual([]);
  });
});

describe("fixtures", () => {
  const f = (n: string) => `${FIX}${n}`;

  test("RFC 4891 5.1 Router1 (transport mode): the whole model", () => {
    const c = loadConfigFile(f("rfc4891-5.1-router1.conf"));
    const gcm128 = { keyword: "aes128gcm16", cipher: "aes-gcm", keyBits: 128, icvBytes: 16, aead: true, implemented: true };
    expect(c).toEqual({
      connections: {
        router2: {
          name: "router2",
          version: 2,
          local_addrs: [{ kind: "address", family: 4, address: "192.0.2.1" }],
          remote_addrs: [{ kind: "address", family: 4, address: "192.0.2.2" }],
          local_port: 500,
          remote_port: 500,
          proposals: [
            { text: "aes128gcm16-prfsha256-ecp256", isDefault: false, encryption: [gcm128], integrity: [], prf: ["prfsha256"], ke: ["ecp256"], additionalKe: [] },
          ],
          encap: false,
          mobike: true,
          fragmentation: "yes",
          keyingtries: 1,
          dpd_delay: 0,
          rekey_time: 14400,
          reauth_time: 0,
          over_time: 1440,
          rand_time: 1440,
          local: { auth: "psk", id: { type: "ipv4", value: "192.0.2.1" }, certs: [], pubkeys: [] },
          remote: { auth: "psk", id: { type: "ipv4", value: "192.0.2.2" }, certs: [], cacerts: [], pubkeys: [] },
          children: {
            v6in4: {
              name: "v6in4",
              mode: "transport",
              local_ts: [{ kind: "dynamic", protocol: 41, port: null }],
              remote_ts: [{ kind: "dynamic", protocol: 41, port: null }],
              esp_proposals: [
                { text: "aes128gcm16", isDefault: false, encryption: [gcm128], integrity: [], ke: [], additionalKe: [], esn: ["noesn"] },
              ],
              start_action: "trap",
              close_action: "none",
              dpd_action: "none",
              rekey_time: 3600,
              life_time: 3960,
              rand_time: 360,
              rekey_bytes: 0,
              life_bytes: 0,
              rand_bytes: 0,
              rekey_packets: 0,
              life_packets: 0,
              rand_packets: 0,
              replay_window: 32,
              inactivity: 0,
            },
          },
        },
      },
      secrets: {
        "ike-routers": {
          name: "ike-routers",
          ids: [
            { type: "ipv4", value: "192.0.2.1" },
            { type: "ipv4", value: "192.0.2.2" },
          ],
          secret: Uint8Array.from([0x8f, 0x2c, 0x7e, 0x1b, 0x5d, 0x9a, 0x3f, 0x60, 0xc4, 0xe8, 0xb2, 0xd7, 0x1a, 0x5f, 0x9c, 0x3e]),
        },
      },
      tunnels: {
        router2: {
          name: "router2",
          local: "192.0.2.1",
          remote: "192.0.2.2",
          address: { address: "2001:db8:ffff::1", length: 64 },
          routes: [{ family: 6, address: "2001:db8:2::", length: 48 }],
          allow: [
            { family: 6, address: "2001:db8:2::", length: 48 },
            { family: 6, address: "2001:db8:ffff::", length: 64 },
          ],
          mtu: 1280,
          protected_by: ["router2"],
        },
      },
      links: [{ tunnel: "router2", connection: "router2", children: ["v6in4"], exact: true }],
      ignored: [],
    });
  });

  test("RFC 4891 5.1 Router2: endpoints written out, mirror of Router1", () => {
    const c = loadConfigFile(f("rfc4891-5.1-router2.conf"));
    const ch = c.connections.router1.children.v6in4;
    expect(ch.local_ts).toEqual([{ kind: "subnet", family: 4, address: "192.0.2.2", length: 32, protocol: 41, port: null }]);
    expect(ch.remote_ts).toEqual([{ kind: "subnet", family: 4, address: "192.0.2.1", length: 32, protocol: 41, port: null }]);
    expect(c.tunnels.router1).toMatchObject({ local: "192.0.2.2", remote: "192.0.2.1", protected_by: ["router1"] });
    expect(c.links).toEqual([{ tunnel: "router1", connection: "router1", children: ["v6in4"], exact: true }]);
  });

  test("RFC 4891 A.2 host-to-host (tunnel mode, IPv6 host selectors)", () => {
    for (const [file, conn, me, peer, tep] of [
      ["rfc4891-a2-host1.conf", "host2", "2001:db8:1::1", "2001:db8:2::1", "192.0.2.1"],
      ["rfc4891-a2-host2.conf", "host1", "2001:db8:2::1", "2001:db8:1::1", "192.0.2.2"],
    ]) {
      const c = loadConfigFile(f(file));
      const ch = c.connections[conn].children[conn];
      expect(ch.mode).toBe("tunnel");
      expect(ch.local_ts).toEqual([{ kind: "subnet", family: 6, address: me, length: 128, protocol: 0, port: null }]);
      expect(ch.remote_ts).toEqual([{ kind: "subnet", family: 6, address: peer, length: 128, protocol: 0, port: null }]);
      expect(ch.esp_proposals).toMatchObject([{ encryption: [{ keyBits: 256, icvBytes: 16 }], esn: ["esn"] }]);
      expect(c.connections[conn].local).toMatchObject({ auth: "pubkey", certs: [expect.stringMatching(/Cert\.pem$/)] });
      expect(c.tunnels[conn]).toMatchObject({ local: tep, address: { address: me, length: 128 }, allow: [{ address: peer, length: 128 }] });
      expect(c.links).toEqual([{ tunnel: conn, connection: conn, children: [conn], exact: true }]);
    }
  });

  test("RFC 4891 A.3 host-to-router (tunnel mode, ::/0 on one side)", () => {
    const h = loadConfigFile(f("rfc4891-a3-host.conf"));
    const hc = h.connections.router.children["default-route"];
    expect(hc.local_ts).toEqual([{ kind: "subnet", family: 6, address: "2001:db8:1::1", length: 128, protocol: 0, port: null }]);
    expect(hc.remote_ts).toEqual([{ kind: "subnet", family: 6, address: "::", length: 0, protocol: 0, port: null }]);
    expect(hc.esp_proposals.map((p) => p.esn)).toEqual([["esn"], ["noesn"]]);
    expect(h.connections.router.proposals.map((p) => p.text)).toEqual(["aes128gcm16-prfsha256-curve25519", "default", "default"]);
    expect(h.connections.router.local.id).toEqual({ type: "rfc822", value: "host@example.org" });
    expect(h.secrets["ike-router"].secret).toEqual(new TextEncoder().encode("correct horse battery staple"));
    expect(h.tunnels.router).toMatchObject({ routes: [{ address: "::", length: 0 }], allow: [{ address: "::", length: 0 }] });
    const r = loadConfigFile(f("rfc4891-a3-router.conf"));
    const rc = r.connections.host.children.host;
    expect(rc.local_ts).toMatchObject([{ address: "::", length: 0 }]);
    expect(rc.remote_ts).toMatchObject([{ address: "2001:db8:1::1", length: 128 }]);
    expect(r.tunnels.host).toMatchObject({ address: null, allow: [{ address: "2001:db8:1::1", length: 128 }], protected_by: ["host"] });
  });

  const twins = readdirSync(FIX).filter((n) => n.endsWith(".conf"));
  test.each(twins)("%s equals its JSON twin", (n) => {
    expect(twins.length).toBe(6);
    expect(loadConfigFile(f(n))).toEqual(loadConfigFile(f(n.replace(/\.conf$/, ".json"))));
  });

  test("a full swanctl.conf: templates, certificates, PSK, includes, several children", () => {
    const c = loadConfigFile(f("full/swanctl.conf"));
    expect(Object.keys(c.connections)).toEqual(["sun", "venus"]);
    const sun = c.connections.sun;
    expect(sun).toMatchObject({ version: 2, encap: true, dpd_delay: 30, rekey_time: 14400, reauth_time: 0 });
    expect(sun.proposals.map((p) => p.text)).toEqual(["aes256gcm16-prfsha384-ecp384", "aes128-sha256-modp3072", "default", "default"]);
    expect(sun.remote.id).toEqual({ type: "dn", value: "C=CH, O=strongSwan Project, CN=sun.strongswan.org" });
    expect(sun.children.v6in4).toMatchObject({
      mode: "transport", rekey_time: 3600, life_time: 3960, rand_time: 360,
      rekey_bytes: 2 * 1024 ** 3, life_bytes: Math.floor(2 * 1024 ** 3 * 1.1), replay_window: 1024,
      start_action: "trap", close_action: "start", dpd_action: "start",
    });
    const venus = c.connections.venus;
    expect(venus.rekey_time).toBe(28800);
    expect(venus.over_time).toBe(2880);
    expect(venus.remote.id).toEqual({ type: "fqdn", value: "venus.strongswan.org" });
    expect(Object.keys(venus.children)).toEqual(["web", "mgmt", "bulk"]);
    expect(venus.children.web.local_ts).toMatchObject([{ protocol: 6, port: { from: 443, to: 443 } }, { protocol: 6, port: { from: 80, to: 80 } }]);
    expect(venus.children.mgmt).toMatchObject({
      start_action: "none", inactivity: 300,
      remote_ts: [{ kind: "range", from: "2001:db8:3:ff::10", to: "2001:db8:3:ff::1f" }],
      esp_proposals: [{ encryption: [{ icvBytes: 12 }] }],
    });
    expect(venus.children.bulk).toMatchObject({ rekey_bytes: 512 * 1024 ** 2, rekey_packets: 0x100000, life_packets: 1153433 });
    expect(c.secrets["ike-venus"].secret).toHaveLength(24);
    expect(c.tunnels.sun.mtu).toBe(1400);
    expect(c.links).toEqual([
      { tunnel: "sun", connection: "sun", children: ["v6in4"], exact: true },
      { tunnel: "venus", connection: "venus", children: ["web", "mgmt", "bulk"], exact: true },
    ]);
  });

  // Bad configurations: [file, reported file, line, column, key, reason]
  const BAD: [string, string, number, number, string, string][] = [
    ["auth-eap.conf", "", 9, 13, "connections.gw.remote.auth", "'eap-mschapv2': EAP and XAuth are not supported by ipsec6in4 (psk or pubkey)"],
    ["bad-bytes.conf", "", 13, 17, "connections.gw.children.net.rekey_bytes", "'10x' is not a byte count (a number with an optional unit k, m or g)"],
    ["bad-duration.conf", "", 13, 17, "connections.gw.children.net.rekey_time", "'1w' is not a duration (a number with an optional unit s, m, h or d)"],
    ["dot-in-name.conf", "", 1, 12, "connections", "'.' is not allowed in a key or section name ('connections.')"],
    ["esp-not-implemented.conf", "", 13, 17, "connections.gw.children.net.esp_proposals", "none of these ESP proposals can be served by ipsec6in4, whose ESP does AES-GCM, ChaCha20-Poly1305, AES-GMAC only (e.g. aes128gcm16, aes256gcm16-esn)"],
    ["ikev1.conf", "", 8, 9, "connections.gw.version", "IKEv1 is not supported by ipsec6in4 (use version = 2, or 0)"],
    ["included-error.conf", "parts/broken-part.conf", 3, 5, "tunnels.t1.remote", "'192.0.2.300' is not an IPv4 address"],
    ["json-model.json", "", 6, 7, "tunnels.t1.mtu", "mtu 9000000 does not fit in an IPv4 packet (at most 65515)"],
    ["json-syntax.json", "", 5, 5, "tunnels.t1", "JSON: expected a string, found '}'"],
    ["key-section-clash.conf", "", 3, 5, "tunnels.t1", "'t1' is already a key here; a section may not share its name"],
    ["life-before-rekey.conf", "", 13, 17, "connections.gw.children.net.life_time", "life_time (1800 seconds) must be greater than rekey_time (3600 seconds), or the SA expires before it is rekeyed"],
    ["missing-equals.conf", "", 3, 17, "connections.gw.version", "expected '=' or '{' after 'version', found '2'"],
    ["mode-beet.conf", "", 13, 17, "connections.gw.children.net.mode", "mode 'beet' is not supported by ipsec6in4 (tunnel or transport)"],
    ["no-children.conf", "", 2, 5, "connections.gw.children", "a connection needs at least one child (children { name { … } })"],
    ["proposal-no-prf.conf", "", 8, 9, "connections.gw.proposals", "'aes128gcm16-ecp256' needs a PRF (e.g. prfsha256) with an AEAD cipher"],
    ["proposal-unknown.conf", "", 8, 9, "connections.gw.proposals", "unknown algorithm keyword 'modp2049' in 'aes128-sha256-modp2049'"],
    ["psk-no-secret.conf", "", 6, 13, "connections.gw.local.auth", "psk authentication, but no secrets.ike<suffix> entry has an id matching 192.0.2.1, 192.0.2.2"],
    ["quote-as-name.conf", "", 2, 5, "tunnels", "unexpected quoted string: only values and include patterns may be quoted"],
    ["reference-cycle.conf", "", 3, 7, "two", "reference cycle: one -> two -> one"],
    ["replay-window.conf", "", 13, 17, "connections.gw.children.net.replay_window", "replay_window 100 is not usable: ipsec6in4 needs 0 (disabled) or a power of two from 32 to 65536"],
    ["secret-bad-hex.conf", "", 4, 9, "secrets.ike-1.secret", "the secret after '0x' is not an even number of hex digits"],
    ["secret-unsupported-type.conf", "", 2, 5, "secrets.eap-carol", "not supported by ipsec6in4: eap secrets (eap<suffix> { }): ipsec6in4 uses IKE preshared keys (ike<suffix>) only (set allowUnsupported to accept and list it)"],
    ["stray-brace.conf", "", 3, 1, "", "unexpected '}' without an open section"],
    ["transport-ipv6-ts.conf", "", 13, 17, "connections.gw.children.net.remote_ts", "'2001:db8:2::/48': transport mode protects the IPv4 packets between the tunnel endpoints (RFC 4891 5.1), so selectors must be IPv4 or dynamic"],
    ["transport-udp-ts.conf", "", 13, 17, "connections.gw.children.net.remote_ts", "protocol 17: transport mode here carries IPv6-in-IPv4 (protocol 41), so the selector must allow protocol 41 (e.g. dynamic[41])"],
    ["ts-host-bits.conf", "", 7, 17, "connections.gw.children.net.remote_ts", "host bits are set in '2001:db8:2::1/48' (did you mean 2001:db8:2::/48?)"],
    ["tunnel-address-no-length.conf", "", 5, 9, "tunnels.t1.address", "'2001:db8:1::1' needs a prefix length (e.g. 2001:db8:1::1/64)"],
    ["tunnel-allow-host-bits.conf", "", 5, 9, "tunnels.t1.allow", "host bits are set in '2001:db8:2::1/48' (did you mean 2001:db8:2::/48?)"],
    ["tunnel-duplicate.conf", "", 6, 5, "tunnels.t2", "tunnel 't2' has the same endpoints (192.0.2.1 -> 192.0.2.2) as tunnel 't1'; packets could not be told apart"],
    ["tunnel-dynamic.conf", "", 5, 13, "connections.gw.children.net.local_ts", "'dynamic': tunnel mode carries IPv6 packets (RFC 4891 Appendix A), so selectors must be IPv6 prefixes or ranges ('dynamic' is the IPv4 endpoint; use transport mode with dynamic[41] instead)"],
    ["tunnel-ipv6-endpoint.conf", "", 3, 9, "tunnels.t1.local", "'2001:db8::1' is IPv6; tunnel endpoints are IPv4 (RFC 4213 IPv6-in-IPv4)"],
    ["tunnel-missing-remote.conf", "", 2, 5, "tunnels.t1.remote", "a tunnel needs 'remote' (its remote IPv4 endpoint)"],
    ["tunnel-mtu.conf", "", 5, 9, "tunnels.t1.mtu", "mtu 1000 is below the IPv6 minimum of 1280 (RFC 4213 3.2)"],
    ["tunnel-route-ipv4.conf", "", 5, 9, "tunnels.t1.routes", "'10.0.0.0/8' is IPv4, an IPv6 prefix is needed"],
    ["tunnel-unknown-key.conf", "", 6, 9, "tunnels.t1.interface", "unknown key 'interface'"],
    ["unclosed-section.conf", "", 1, 1, "connections", "section 'connections' opened at line 1 is not closed (missing '}')"],
    ["unknown-key.conf", "", 13, 17, "connections.gw.children.net.rekey_tme", "unknown key 'rekey_tme' (did you mean 'rekey_time'?)"],
    ["unknown-reference.conf", "", 2, 10, "connections.gw", "references section 'defaults', which does not exist"],
    ["unknown-top.conf", "", 18, 1, "connection", "unknown section 'connection' (did you mean 'connections'?)"],
    ["unsupported-key.conf", "", 8, 9, "connections.gw.vips", "not supported by ipsec6in4: virtual IPs (vips) (set allowUnsupported to accept and list it)"],
    ["unterminated-string.conf", "", 3, 18, "secrets.ike-1.secret", "unterminated quoted string"],
  ];
  test("every bad fixture is listed", () => {
    const files = readdirSync(`${FIX}bad`).filter((n) => /\.(conf|json)$/.test(n)).sort();
    expect(BAD.map((b) => b[0]).sort()).toEqual(files);
  });
  test.each(BAD)("bad/%s", (name, reported, line, column, key, reason) => {
    const e = err(() => loadConfigFile(f(`bad/${name}`)));
    expect({ file: e.file, line: e.line, column: e.column, key: e.key, reason: e.reason }).toEqual({
      file: f(`bad/${reported || name}`),
      line,
      column,
      key,
      reason,
    });
    expect(e.code).toBe("ERR_CONFIG");
    expect(e.errors).toHaveLength(name === "tunnel-dynamic.conf" ? 2 : 1);
  });
});

describe("round trips", () => {
  const all = [
    ...readdirSync(FIX).filter((n) => n.endsWith(".conf")).map((n) => `${FIX}${n}`),
    `${FIX}full/swanctl.conf`,
  ];

  test.each(all)("%s -> swanctl text -> same model; -> JSON -> same model", (file) => {
    const model = loadConfigFile(file);
    const text = toSwanctl(readFileText(file), { file });
    expect(loadConfig(text)).toEqual(model);
    const json = JSON.stringify(toJsonObject(readFileText(file), { file }), null, 2);
    expect(loadConfig(json)).toEqual(model);
    expect(loadConfig(JSON.parse(json))).toEqual(model);
    // and the JSON twin's text form reads back as the same tree
    expect(settingsToObject(parseSettings(text).root)).toEqual(JSON.parse(json));
  });

  test("property: random settings trees survive formatSettings -> parseSettings", () => {
    const seed = seedFromEnv(0x5eed1);
    const rng = new Prng(seed);
    const nameChars = "abcdefghijklmnopqrstuvwxyz0123456789-_/@%+*!?'()[]<>|;~^$&ü";
    const valueChars = 'abc xyz019 \t\n\r"\\#}{=,.:[]/-_ü€';
    const name = () => Array.from({ length: rng.int(1, 8) }, () => rng.pick([...nameChars])).join("");
    const value = (): string | null => {
      const r = rng.int(0, 9);
      if (r === 0) return null;
      if (r === 1) return "";
      return Array.from({ length: rng.int(1, 12) }, () => rng.pick([...valueChars])).join("");
    };
    const gen = (depth: number): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 5); i > 0; i--) {
        const n = name();
        if (n in o || n === "include") continue;
        o[n] = depth < 3 && rng.int(0, 3) === 0 ? gen(depth + 1) : value();
      }
      return o;
    };
    for (let i = 0; i < 300; i++) {
      const obj = gen(0);
      const sec = settingsFromObject(obj);
      const text = formatSettings(sec);
      try {
        expect(settingsToObject(parseSettings(text).root)).toEqual(settingsToObject(sec));
        expect(settingsToObject(parseJsonSettings(JSON.stringify(obj)))).toEqual(settingsToObject(sec));
      } catch (e) {
        throw new Error(`seed ${seed} iteration ${i}: ${(e as Error).message}\n${text}`);
      }
    }
  });

  test("property: random valid configurations load equal from swanctl text, JSON and objects", () => {
    const seed = seedFromEnv(0xc0ff1);
    const rng = new Prng(seed);
    const hex = (n: number) => Array.from(rng.bytes(n), (b) => b.toString(16).padStart(2, "0")).join("");
    const v6prefix = (len: number) => {
      const b = rng.bytes(16);
      b[0] = 0x20;
      b[1] = 0x01;
      for (let i = 0; i < 16; i++) {
        const keep = Math.max(0, Math.min(8, len - 8 * i));
        b[i] &= (0xff << (8 - keep)) & 0xff;
      }
      // written in a random, non-canonical but valid form
      const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16));
      const text = rng.int(0, 1) ? groups.map((g) => g.padStart(4, "0").toUpperCase()).join(":") : formatIPv6(b);
      return `${text}/${len}`;
    };
    const secretText = () =>
      rng.pick([`0x${hex(rng.int(1, 32))}`, `0s${Buffer.from(rng.bytes(rng.int(1, 30))).toString("base64")}`, 'pass "word" # with } and \\ and  spaces', "plain"]);
    for (let i = 0; i < 60; i++) {
      const connections: Record<string, unknown> = {};
      const tunnels: Record<string, unknown> = {};
      const secrets: Record<string, unknown> = {};
      for (let k = 0; k < rng.int(1, 3); k++) {
        const local = `192.0.2.${rng.int(1, 254)}`;
        const remote = `198.51.100.${k + 1}`;
        const transport = rng.int(0, 1) === 0;
        const children: Record<string, unknown> = {};
        for (let j = 0; j < rng.int(1, 3); j++) {
          const life = rng.pick([undefined, "2h", "7300", "0x2000"]);
          children[`c${j}`] = {
            mode: transport ? "transport" : rng.pick(["tunnel", undefined]),
            local_ts: transport ? rng.pick(["dynamic[41]", `${local}/32[ipv6]`, "dynamic", ["dynamic[41]", "192.0.2.0/24"]]) : [v6prefix(rng.int(0, 128)), v6prefix(48)],
            remote_ts: transport ? rng.pick(["dynamic[41]", undefined]) : v6prefix(rng.int(0, 128)),
            esp_proposals: rng.pick([undefined, "default", "aes128gcm16", ["aes256gcm16-esn", "aes128gcm8-noesn"], "aes128gcm12, chacha20poly1305"]),
            rekey_time: life ? rng.pick(["1h", "3600", 60, "010"]) : undefined,
            life_time: life,
            rekey_bytes: rng.pick([undefined, "1k", "0x100M", 5000]),
            replay_window: rng.pick([undefined, 0, 32, "0x400", 65536]),
            start_action: rng.pick([undefined, "none", "trap", "start", "trap|start", "route"]),
            dpd_action: rng.pick([undefined, "clear", "restart", "hold"]),
          };
        }
        const psk = rng.int(0, 1) === 0;
        const rid = rng.pick([undefined, remote, `peer${k}.example.org`, `C=CH, O=x, CN=peer${k}`]);
        connections[`conn-${k}`] = {
          version: rng.pick([undefined, 0, 2, "2"]),
          local_addrs: rng.pick([local, [local, "10.0.0.1"], "%any"]),
          remote_addrs: remote,
          proposals: rng.pick([undefined, "default", "aes128gcm16-prfsha256-ecp256", ["aes256-sha384-modp3072", "aes128gcm16-prfsha256-x25519"]]),
          encap: rng.pick([undefined, true, false, "yes", "no", "1"]),
          mobike: rng.pick([undefined, true, "disabled"]),
          dpd_delay: rng.pick([undefined, "30s", 10, "1m"]),
          reauth_time: rng.pick([undefined, "0", "3h"]),
          local: { auth: psk ? "psk" : "pubkey", id: rng.pick([undefined, local, "moon.example.org"]), certs: psk ? undefined : "moonCert.pem" },
          remote: { auth: psk ? "psk" : "pubkey", id: rid },
          children,
        };
        if (psk) secrets[`ike-${k}`] = { id: rid ?? remote, "id-me": local, secret: secretText() };
        tunnels[`t${k}`] = {
          local,
          remote,
          address: rng.pick([undefined, `2001:db8:${k}::1/64`]),
          routes: [v6prefix(48), v6prefix(rng.int(16, 64))],
          allow: rng.pick([undefined, v6prefix(56)]),
          mtu: rng.pick([undefined, 1280, "1400", 1480]),
        };
      }
      const obj = { connections, secrets, tunnels };
      let fromObj: Config;
      try {
        fromObj = loadConfig(obj);
        const text = formatSettings(settingsFromObject(obj));
        expect(loadConfig(text)).toEqual(fromObj);
        expect(loadConfig(JSON.stringify(obj))).toEqual(fromObj);
        expect(loadConfig(toSwanctl(text))).toEqual(fromObj);
        // every tunnel is protected by its connection
        for (let k = 0; k < Object.keys(tunnels).length; k++) expect(fromObj.tunnels[`t${k}`].protected_by).toContain(`conn-${k}`);
      } catch (e) {
        throw new Error(`seed ${seed} iteration ${i}: ${(e as Error).message}\n${JSON.stringify(obj, null, 1)}`);
      }
    }
  });
});

import { readFileSync } from "node:fs";
function readFileText(p: string): string {
  return readFileSync(p, "utf8");
}

test("buildConfig works on trees from any source", () => {
  const c = buildConfig(settingsFromObject({ tunnels: { t: { local: "192.0.2.1", remote: "192.0.2.2" } } }));
  expect(c.tunnels.t.mtu).toBe(1280);
});
