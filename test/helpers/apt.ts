/**
 * Tests that need a Debian package (chromium, tshark, strongswan, python3-scapy) install it
 * with apt-get when missing. Outside CI, a machine where that cannot work (not root, no
 * apt) skips those tests with the reason; with CI=true a missing tool is a failure.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const inCI = process.env.CI === "true" || process.env.CI === "1";

let updated = false;

/** Ensure `path` exists, installing Debian `packages` if not. Returns a skip reason or undefined. */
export function ensureDebian(path: string, packages: string[]): string | undefined {
  if (existsSync(path)) return undefined;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"]).status === 0;
  if (!isRoot || !hasApt) {
    const why = `${path} missing and cannot apt-get install ${packages.join(" ")} here (${isRoot ? "no apt-get" : "not root"})`;
    if (inCI) throw new Error(why);
    return why;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!updated) {
    execFileSync("apt-get", ["update", "-qq"], { env, stdio: "ignore", timeout: 300_000 });
    updated = true;
  }
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], { env, stdio: "ignore", timeout: 900_000 });
  if (!existsSync(path)) throw new Error(`apt-get installed ${packages.join(" ")} but ${path} is still missing`);
  return undefined;
}
