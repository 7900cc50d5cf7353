import { readFileSync } from "node:fs";

export interface AeadTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: "valid" | "invalid" | "acceptable";
}

export interface AeadGroup {
  ivSize: number;
  keySize: number;
  tagSize: number;
  tests: AeadTest[];
}

export function loadAead(name: string): { groups: AeadGroup[]; numberOfTests: number } {
  const j = JSON.parse(readFileSync(new URL(`../vectors/wycheproof/${name}`, import.meta.url), "utf8"));
  return { groups: j.testGroups, numberOfTests: j.numberOfTests };
}

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
