/**
 * IKE and ESP proposal strings in strongSwan's syntax: algorithm keywords joined by "-",
 * e.g. "aes128gcm16-prfsha256-ecp256" (IKE), "aes256gcm16-esn" (ESP), or "default".
 * The keywords are strongSwan's (proposal_keywords_static.txt), case-insensitive; the
 * checks are strongSwan's (an encryption algorithm is mandatory, AEAD and classic ciphers
 * are not mixed, classic ciphers need an integrity algorithm, IKE needs a PRF and a key
 * exchange method; a PRF missing from a classic IKE proposal is derived from its integrity
 * algorithms; integrity algorithms in an AEAD proposal are dropped).
 *
 * Whether ipsec6in4 can serve an algorithm is a separate question, answered by
 * `implemented` on ESP ciphers: the ESP hot path does AES-GCM (RFC 4106) with 128/192/256-bit
 * keys and 8/12/16-byte ICVs, with or without extended sequence numbers.
 */

export type Cipher =
  | "null"
  | "des"
  | "3des"
  | "aes-cbc"
  | "aes-ctr"
  | "aes-ccm"
  | "aes-gcm"
  | "aes-gmac"
  | "chacha20-poly1305"
  | "blowfish"
  | "camellia-cbc"
  | "camellia-ctr"
  | "camellia-ccm"
  | "cast128"
  | "serpent-cbc"
  | "twofish-cbc";

/**
 * The ESP ciphers ipsec6in4's data plane implements: the one place to change when another
 * (e.g. "chacha20-poly1305", RFC 7634) lands in the ESP hot path.
 */
export const ESP_IMPLEMENTED_CIPHERS: ReadonlySet<Cipher> = new Set<Cipher>(["aes-gcm", "chacha20-poly1305", "aes-gmac"]);

export interface EncryptionAlgorithm {
  /** The keyword as written, lower case (e.g. "aes128gcm16"). */
  keyword: string;
  cipher: Cipher;
  /** Key size in bits (0 where the cipher has a fixed key that strongSwan does not size). */
  keyBits: number;
  /** ICV length in bytes for AEAD ciphers. */
  icvBytes?: number;
  aead: boolean;
  /** ipsec6in4's ESP can use it (see ESP_IMPLEMENTED_CIPHERS). */
  implemented: boolean;
}

export interface ProposalBase {
  /** The proposal as written (or "default"). */
  text: string;
  /** Came from the keyword "default" (expanded to DEFAULT_* below). */
  isDefault: boolean;
  encryption: EncryptionAlgorithm[];
  /** Integrity algorithm keywords, canonical (e.g. "sha256"); empty for AEAD proposals. */
  integrity: string[];
  /** Key exchange methods (DH groups), canonical keywords (e.g. "ecp256", "curve25519"). */
  ke: string[];
  /** Additional key exchanges (RFC 9370): ke1_ … ke7_, index 0 is ke1. */
  additionalKe: string[][];
}

export interface IkeProposal extends ProposalBase {
  prf: string[];
}

export interface EspProposal extends ProposalBase {
  /** Extended sequence numbers offered: "noesn" is assumed when neither is written. */
  esn: ("esn" | "noesn")[];
}

/** What "default" expands to (strongSwan's default AEAD and classic proposals). */
export const DEFAULT_IKE_PROPOSALS = [
  "aes128-aes192-aes256-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512-ecp256-ecp384-ecp521-curve25519-curve448-modp3072-modp4096-modp6144-modp8192-modp2048",
  "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-ecp256-ecp384-ecp521-curve25519-curve448-modp3072-modp4096-modp6144-modp8192-modp2048",
];
export const DEFAULT_ESP_PROPOSALS = [
  "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305",
  "aes128-aes192-aes256-sha256-sha384-sha512-sha1",
];

type Kind = "enc" | "integ" | "prf" | "ke" | "esn";
interface Entry {
  kind: Kind;
  canon: string;
  cipher?: Cipher;
  keyBits?: number;
  icv?: number;
}

const TABLE = new Map<string, Entry>();
function enc(names: string[], cipher: Cipher, keyBits: number, icv?: number): void {
  for (const n of names) TABLE.set(n, { kind: "enc", canon: names[0], cipher, keyBits, icv });
}
enc(["null"], "null", 0);
enc(["des"], "des", 64);
enc(["3des"], "3des", 192);
enc(["cast128"], "cast128", 128);
for (const b of [128, 192, 256]) {
  enc(b === 128 ? [`aes${b}`, "aes"] : [`aes${b}`], "aes-cbc", b);
  enc([`aes${b}ctr`], "aes-ctr", b);
  enc([`aes${b}gmac`], "aes-gmac", b, 16);
  enc([`blowfish${b}`, ...(b === 128 ? ["blowfish"] : [])], "blowfish", b);
  enc([`camellia${b}`, ...(b === 128 ? ["camellia"] : [])], "camellia-cbc", b);
  enc([`camellia${b}ctr`], "camellia-ctr", b);
  enc([`serpent${b}`, ...(b === 128 ? ["serpent"] : [])], "serpent-cbc", b);
  enc([`twofish${b}`, ...(b === 128 ? ["twofish"] : [])], "twofish-cbc", b);
  for (const [icv, alias] of [
    [8, 64],
    [12, 96],
    [16, 128],
  ]) {
    enc([`aes${b}gcm${icv}`, `aes${b}gcm${alias}`, ...(icv === 16 ? [`aes${b}gcm`] : [])], "aes-gcm", b, icv);
    enc([`aes${b}ccm${icv}`, `aes${b}ccm${alias}`, ...(icv === 16 ? [`aes${b}ccm`] : [])], "aes-ccm", b, icv);
    enc([`camellia${b}ccm${icv}`, `camellia${b}ccm${alias}`], "camellia-ccm", b, icv);
  }
}
enc(["chacha20poly1305"], "chacha20-poly1305", 256, 16);
enc(["chacha20poly1305compat"], "chacha20-poly1305", 256, 16);
function simple(kind: Kind, names: string[]): void {
  for (const n of names) TABLE.set(n, { kind, canon: names[0] });
}
simple("integ", ["sha1", "sha"]);
simple("integ", ["sha1_160"]);
simple("integ", ["sha256", "sha2_256"]);
simple("integ", ["sha256_96", "sha2_256_96"]);
simple("integ", ["sha384", "sha2_384"]);
simple("integ", ["sha512", "sha2_512"]);
simple("integ", ["md5"]);
simple("integ", ["md5_128"]);
simple("integ", ["aesxcbc"]);
simple("integ", ["camelliaxcbc"]);
simple("integ", ["aescmac"]);
for (const p of ["prfsha1", "prfsha256", "prfsha384", "prfsha512", "prfmd5", "prfaesxcbc", "prfcamelliaxcbc", "prfaescmac"])
  simple("prf", [p]);
simple("ke", ["none", "modpnone"]);
simple("ke", ["curve25519", "x25519"]);
simple("ke", ["curve448", "x448"]);
for (const k of [
  "modpnull", "modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
  "ecp192", "ecp224", "ecp256", "ecp384", "ecp521", "modp1024s160", "modp2048s224", "modp2048s256",
  "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp", "mlkem512", "mlkem768", "mlkem1024",
  "ntru112", "ntru128", "ntru192", "ntru256", "kyber1", "kyber3", "kyber5",
])
  simple("ke", [k]);
simple("esn", ["esn"]);
simple("esn", ["noesn"]);

const INTEG_TO_PRF: Record<string, string> = {
  sha1: "prfsha1",
  sha1_160: "prfsha1",
  sha256: "prfsha256",
  sha256_96: "prfsha256",
  sha384: "prfsha384",
  sha512: "prfsha512",
  md5: "prfmd5",
  md5_128: "prfmd5",
  aesxcbc: "prfaesxcbc",
  aescmac: "prfaescmac",
  camelliaxcbc: "prfcamelliaxcbc",
};

export type ProposalResult<T> = { ok: true; proposal: T } | { ok: false; reason: string };

function push<T>(list: T[], v: T): void {
  if (!list.includes(v)) list.push(v);
}

function parseCommon(text: string, protocol: "ike" | "esp"): ProposalResult<IkeProposal & EspProposal> {
  const p: IkeProposal & EspProposal = {
    text,
    isDefault: false,
    encryption: [],
    integrity: [],
    prf: [],
    ke: [],
    additionalKe: [],
    esn: [],
  };
  if (text.trim() === "") return { ok: false, reason: "empty proposal" };
  for (const raw of text.split("-")) {
    const word = raw.trim().toLowerCase();
    if (!word) return { ok: false, reason: `empty algorithm keyword in '${text}'` };
    const extra = /^ke([1-7])_(.+)$/.exec(word);
    if (extra) {
      const e = TABLE.get(extra[2]);
      if (!e || e.kind !== "ke") return { ok: false, reason: `unknown key exchange method '${extra[2]}' in '${word}'` };
      const i = Number(extra[1]) - 1;
      while (p.additionalKe.length <= i) p.additionalKe.push([]);
      push(p.additionalKe[i], e.canon);
      continue;
    }
    const e = TABLE.get(word);
    if (!e) return { ok: false, reason: `unknown algorithm keyword '${raw.trim()}' in '${text}'` };
    switch (e.kind) {
      case "enc":
        if (!p.encryption.some((x) => x.keyword === e.canon)) {
          const aead = e.icv !== undefined;
          p.encryption.push({
            keyword: e.canon,
            cipher: e.cipher!,
            keyBits: e.keyBits!,
            ...(aead ? { icvBytes: e.icv } : {}),
            aead,
            implemented: ESP_IMPLEMENTED_CIPHERS.has(e.cipher!),
          });
        }
        break;
      case "integ":
        push(p.integrity, e.canon);
        break;
      case "prf":
        if (protocol !== "ike") return { ok: false, reason: `'${word}' is a PRF, which only IKE proposals take` };
        push(p.prf, e.canon);
        break;
      case "ke":
        push(p.ke, e.canon);
        break;
      case "esn":
        if (protocol !== "esp") return { ok: false, reason: `'${word}' (extended sequence numbers) only applies to ESP proposals` };
        push(p.esn, e.canon as "esn" | "noesn");
        break;
    }
  }
  if (p.encryption.length === 0) return { ok: false, reason: `'${text}' has no encryption algorithm` };
  const aead = p.encryption.filter((x) => x.aead);
  if (aead.length && aead.length !== p.encryption.length)
    return { ok: false, reason: `'${text}' mixes AEAD and classic encryption algorithms` };
  if (aead.length) p.integrity = [];
  else if (p.integrity.length === 0)
    return { ok: false, reason: `'${text}' needs an integrity algorithm (or an AEAD cipher such as aes128gcm16)` };
  if (protocol === "ike") {
    if (p.prf.length === 0) {
      for (const i of p.integrity) if (INTEG_TO_PRF[i]) push(p.prf, INTEG_TO_PRF[i]);
      if (p.prf.length === 0) return { ok: false, reason: `'${text}' needs a PRF (e.g. prfsha256) with an AEAD cipher` };
    }
    p.ke = p.ke.filter((k) => k !== "none" && k !== "modpnull");
    if (p.ke.length === 0) return { ok: false, reason: `'${text}' needs a key exchange method (e.g. ecp256, curve25519, modp2048)` };
  } else if (p.esn.length === 0) p.esn.push("noesn");
  return { ok: true, proposal: p };
}

function strip<T extends object>(o: T, keys: string[]): T {
  const c = { ...o } as Record<string, unknown>;
  for (const k of keys) delete c[k];
  return c as T;
}

/** One IKE proposal ("aes128gcm16-prfsha256-ecp256"); "default" is not accepted here. */
export function parseIkeProposal(text: string): ProposalResult<IkeProposal> {
  const r = parseCommon(text, "ike");
  return r.ok ? { ok: true, proposal: strip(r.proposal, ["esn"]) } : r;
}

/** One ESP proposal ("aes256gcm16-esn"); "default" is not accepted here. */
export function parseEspProposal(text: string): ProposalResult<EspProposal> {
  const r = parseCommon(text, "esp");
  return r.ok ? { ok: true, proposal: strip(r.proposal, ["prf"]) } : r;
}

/** A comma list of proposals, "default" expanding to the default proposals in place. */
export function parseProposalList<T extends ProposalBase>(
  items: string[],
  protocol: "ike" | "esp",
): ProposalResult<T[]> {
  const out: T[] = [];
  for (const item of items) {
    if (item.toLowerCase() === "default") {
      for (const d of protocol === "ike" ? DEFAULT_IKE_PROPOSALS : DEFAULT_ESP_PROPOSALS) {
        const r = (protocol === "ike" ? parseIkeProposal(d) : parseEspProposal(d)) as ProposalResult<T>;
        if (!r.ok) throw new Error(`built-in default proposal broken: ${r.reason}`);
        out.push({ ...r.proposal, text: "default", isDefault: true });
      }
      continue;
    }
    const r = (protocol === "ike" ? parseIkeProposal(item) : parseEspProposal(item)) as ProposalResult<T>;
    if (!r.ok) return r;
    out.push(r.proposal);
  }
  return { ok: true, proposal: out };
}

/** The ESP proposal can be negotiated by ipsec6in4's data plane (offers AES-GCM). */
export function espProposalImplemented(p: EspProposal): boolean {
  return p.encryption.some((e) => e.implemented);
}
