/**
 * `ipsec6in4 config <file> [--json]`: load a swanctl.conf (with our `tunnels` section) or its
 * JSON form, refuse it with file:line: key: reason if it is invalid, and otherwise print what
 * it means: the tunnels with their SPD decision, the SPD as RFC 4891 prints it, and the PAD.
 */
import { loadConfigFile, ConfigError } from "./config/index.js";
import { fail } from "./errors.js";
import { policyFromConfig } from "./policy.js";
import { formatIPv4, formatIPv6, fromBig } from "./addr.js";

export async function configCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let file: string | undefined;
  let json = false;
  for (const a of args) {
    if (a === "--json") json = true;
    else if (a.startsWith("-")) fail("ERR_USAGE", `config: unknown option '${a}'`);
    else if (file === undefined) file = a;
    else fail("ERR_USAGE", "config: one configuration file at a time");
  }
  if (file === undefined) fail("ERR_USAGE", "usage: ipsec6in4 config <swanctl.conf|config.json> [--json]");
  let config;
  try {
    config = loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const x of e.errors) err(`${x.message}\n`);
      return 1;
    }
    if (e instanceof Error && "code" in e && (e as { code: string }).code === "ENOENT") {
      err(`ipsec6in4: cannot read ${file}: no such file\n`);
      return 1;
    }
    throw e;
  }
  const { spd, pad, tunnels } = policyFromConfig(config);
  if (json) {
    out(
      JSON.stringify({
        tunnels: tunnels.map((t) => ({ ...t.config, policy: t.policy, connection: t.connection ?? null })),
        spd: spd.toTable().split("\n"),
        pad: pad.entries.map((e) => ({ name: e.name, auth: e.auth, children: e.childRanges.length })),
        connections: Object.keys(config.connections),
      }) + "\n",
    );
    return 0;
  }
  out(`${file}: valid\n\ntunnels:\n`);
  for (const t of tunnels) {
    out(`  ${t.config.name}: ${t.config.local} <-> ${t.config.remote}, ${t.config.address}, mtu ${t.config.mtu}, policy ${t.policy.toUpperCase()}${t.connection ? ` (connection ${t.connection})` : ""}\n`);
    out(`    routes ${t.config.routes?.join(", ") || "none"}; allow ${t.config.allow?.join(", ") || "none"}\n`);
  }
  out(`\nSPD:\n${spd.toTable().replace(/^/gm, "  ")}\n\nPAD:\n`);
  for (const e of pad.entries) {
    const ranges = e.childRanges.map((r) => {
      const f = r.family === 4 ? formatIPv4 : formatIPv6;
      return r.start === r.end ? f(fromBig(r.start, r.family)) : `${f(fromBig(r.start, r.family))}-${f(fromBig(r.end, r.family))}`;
    });
    out(`  ${e.name}: ${e.auth}, child SAs within ${ranges.join(", ") || "nothing"}\n`);
  }
  return 0;
}
