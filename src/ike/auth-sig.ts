/**
 * Signature authentication for IKE_AUTH (RFC 7296 §2.15, §3.6–§3.8; RFC 7427):
 *
 *   AUTH method 14 (Digital Signature, RFC 7427)  when the peer announced SIGNATURE_HASH_ALGORITHMS
 *       with SHA2-256: data = len(AlgorithmIdentifier) ‖ AlgorithmIdentifier ‖ signature.
 *       We sign with sha256WithRSAEncryption (PKCS#1 v1.5), RSASSA-PSS/SHA-256 (salt 32) when
 *       asked, or ecdsa-with-SHA256 (DER signature); we verify those and the SHA-384/512 variants.
 *   AUTH method 1 (RSA Digital Signature)          RSASSA-PKCS1-v1_5 with SHA-1 (the RFC 7296 default
 *       for peers without RFC 7427), signed and verified.
 *   AUTH methods 9, 10, 11 (ECDSA, RFC 4754)        P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, r ‖ s.
 *
 * The signed octets are those of PSK authentication: <message> ‖ <peer nonce> ‖ prf(SK_p, ID').
 *
 * Certificates (CERT encoding 4, X.509 Certificate - Signature) are checked with node:crypto's
 * X509Certificate: the chain from the end-entity certificate through the CERT payloads'
 * intermediates to one of the configured CA certificates (`remote.cacerts`), issuer names and
 * signatures (`checkIssued`, `verify`), validity dates, CA basic constraint on issuers; and the
 * peer's IKE identity must be in the certificate (subjectAltName iPAddress for ID_IPV4_ADDR /
 * ID_IPV6_ADDR, dNSName for ID_FQDN, rfc822Name for ID_RFC822_ADDR).
 *
 * Credentials, in strongSwan's vocabulary and swanctl's layout: `local.certs` and
 * `remote.cacerts` name files (PEM or DER), relative to the swanctl directory's `x509/` and
 * `x509ca/` (or absolute). The private key is not named in the connection: as swanctl does,
 * it is found among the keys in the `private/`, `rsa/`, `ecdsa/` and `pkcs8/` directories (of the
 * swanctl directory, and next to the certificate's `x509/` directory) as the one whose public
 * key is the certificate's; keys can also be handed over directly (IkeEndpointOptions.credentials).
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, sign, verify, constants, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { IpsecError } from "../errors.js";
import type { Identity } from "../config/model.js";

export const AUTH_RSA_SIG = 1;
export const AUTH_ECDSA_256 = 9;
export const AUTH_ECDSA_384 = 10;
export const AUTH_ECDSA_521 = 11;
export const AUTH_DIGITAL_SIGNATURE = 14;

/** RFC 7427 §7 / IANA "IKEv2 Hash Algorithms" (SIGNATURE_HASH_ALGORITHMS notify data). */
export const HASH_SHA2_256 = 2;
export const HASH_SHA2_384 = 3;
export const HASH_SHA2_512 = 4;
export const OUR_SIGNATURE_HASHES = [HASH_SHA2_256, HASH_SHA2_384, HASH_SHA2_512];

export interface CredentialOptions {
  /** The swanctl directory: relative `certs` are under its x509/, `cacerts` under x509ca/, keys in private/, rsa/, ecdsa/, pkcs8/. */
  swanctlDir?: string;
  /** Private keys (PEM/DER text or KeyObjects) to choose from besides those found in the directories. */
  privateKeys?: (string | Buffer | KeyObject)[];
  /** Sign with RSASSA-PSS instead of PKCS#1 v1.5 when RFC 7427 is in use (strongSwan's `rsa_pss = yes`). */
  rsaPss?: boolean;
}

export interface LocalCredential {
  cert: X509Certificate;
  /** Further certificates from the same file (intermediates), sent after the end-entity one. */
  chain: X509Certificate[];
  key: KeyObject;
}

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

// RFC 7427 Appendix A AlgorithmIdentifiers (DER).
const ALG_RSA_SHA256 = hex("300d06092a864886f70d01010b0500");
const ALG_ECDSA_SHA256 = hex("300a06082a8648ce3d040302");
const ALG_ECDSA_SHA384 = hex("300a06082a8648ce3d040303");
const ALG_ECDSA_SHA512 = hex("300a06082a8648ce3d040304");
const ALG_RSA_PSS_SHA256 = hex(
  "3041 06092a864886f70d01010a 3034" +
    "a00f 300d 0609608648016503040201 0500" +
    "a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500" +
    "a203 020120",
);

const OID = {
  sha256WithRSA: "2a864886f70d01010b",
  sha384WithRSA: "2a864886f70d01010c",
  sha512WithRSA: "2a864886f70d01010d",
  rsaPss: "2a864886f70d01010a",
  ecdsaSha256: "2a8648ce3d040302",
  ecdsaSha384: "2a8648ce3d040303",
  ecdsaSha512: "2a8648ce3d040304",
  sha256: "608648016503040201",
  sha384: "608648016503040202",
  sha512: "608648016503040203",
};

function pemBlocks(text: string, label: RegExp): string[] {
  const out: string[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (let m; (m = re.exec(text)); ) if (label.test(m[1])) out.push(m[0]);
  return out;
}

/** All certificates in a PEM (bundle) or DER file. */
export function readCertificates(file: string): X509Certificate[] {
  const raw = readFileSync(file);
  const text = raw.toString("latin1");
  if (text.includes("-----BEGIN")) return pemBlocks(text, /CERTIFICATE$/).map((b) => new X509Certificate(b));
  return [new X509Certificate(raw)];
}

function resolveIn(dir: string | undefined, sub: string, p: string): string {
  if (isAbsolute(p)) return p;
  if (dir) {
    const inSub = join(dir, sub, p);
    if (existsSync(inSub)) return inSub;
  }
  return resolve(p);
}

function keysIn(dir: string): KeyObject[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const out: KeyObject[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (!statSync(p).isFile()) continue;
    const raw = readFileSync(p);
    try {
      const text = raw.toString("latin1");
      if (text.includes("-----BEGIN")) for (const b of pemBlocks(text, /PRIVATE KEY$/)) out.push(createPrivateKey(b));
      else out.push(createPrivateKey({ key: raw, format: "der", type: "pkcs8" }));
    } catch {
      // not a key we can read (encrypted, other format): skip, as swanctl would with a warning
    }
  }
  return out;
}

function spki(k: KeyObject): Buffer {
  return (k.type === "private" ? createPublicKey(k) : k).export({ type: "spki", format: "der" });
}

/** Where a `certs` entry is: absolute, or under the swanctl directory's x509/, or relative to the working directory. */
export function resolveCert(p: string, o: CredentialOptions = {}): string {
  return resolveIn(o.swanctlDir, "x509", p);
}

/** Our certificate(s) and the private key that belongs to the first. */
export function loadLocalCredential(certs: string[], o: CredentialOptions = {}): LocalCredential {
  if (!certs.length) throw new IpsecError("ERR_CONFIG", "pubkey authentication needs local.certs");
  const file = resolveIn(o.swanctlDir, "x509", certs[0]);
  if (!existsSync(file)) throw new IpsecError("ERR_CONFIG", `certificate file ${file} does not exist`);
  const [cert, ...chain] = readCertificates(file);
  for (const extra of certs.slice(1)) chain.push(...readCertificates(resolveIn(o.swanctlDir, "x509", extra)));
  const want = spki(cert.publicKey);
  const dirs = new Set<string>();
  const kinds = ["private", "rsa", "ecdsa", "pkcs8"];
  if (o.swanctlDir) for (const k of kinds) dirs.add(join(o.swanctlDir, k));
  for (const k of kinds) dirs.add(join(dirname(dirname(file)), k));
  const candidates: KeyObject[] = (o.privateKeys ?? []).map((k) => (typeof k === "string" || Buffer.isBuffer(k) ? createPrivateKey(k) : k));
  for (const d of dirs) candidates.push(...keysIn(d));
  const key = candidates.find((k) => spki(k).equals(want));
  if (!key) throw new IpsecError("ERR_CONFIG", `no private key for certificate ${file} (looked in ${[...dirs].join(", ")})`);
  return { cert, chain, key };
}

/** The configured trust anchors. */
export function loadCaCertificates(cacerts: string[], o: CredentialOptions = {}): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const c of cacerts) {
    const file = resolveIn(o.swanctlDir, "x509ca", c);
    if (!existsSync(file)) throw new IpsecError("ERR_CONFIG", `CA certificate file ${file} does not exist`);
    out.push(...readCertificates(file));
  }
  return out;
}

/** CERTREQ data for encoding 4 (§3.7): SHA-1 hashes of the CAs' SubjectPublicKeyInfo, concatenated. */
export function certreqData(cas: X509Certificate[]): Uint8Array {
  return new Uint8Array(Buffer.concat(cas.map((c) => createHash("sha1").update(spki(c.publicKey)).digest())));
}

/** Sign the AUTH octets: RFC 7427 when the peer announced SHA2-256, else method 1 (RSA) / 9–11 (ECDSA). */
export function signAuth(key: KeyObject, octets: Uint8Array, o: { rfc7427: boolean; rsaPss?: boolean }): { method: number; data: Uint8Array } {
  const t = key.asymmetricKeyType;
  if (t === "rsa") {
    if (!o.rfc7427) return { method: AUTH_RSA_SIG, data: new Uint8Array(sign("sha1", octets, { key, padding: constants.RSA_PKCS1_PADDING })) };
    const alg = o.rsaPss ? ALG_RSA_PSS_SHA256 : ALG_RSA_SHA256;
    const sig = o.rsaPss
      ? sign("sha256", octets, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : sign("sha256", octets, { key, padding: constants.RSA_PKCS1_PADDING });
    return { method: AUTH_DIGITAL_SIGNATURE, data: new Uint8Array(Buffer.concat([Buffer.of(alg.length), alg, sig])) };
  }
  if (t === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const [hash, method, alg] =
      curve === "secp384r1" ? ["sha384", AUTH_ECDSA_384, ALG_ECDSA_SHA384] : curve === "secp521r1" ? ["sha512", AUTH_ECDSA_521, ALG_ECDSA_SHA512] : ["sha256", AUTH_ECDSA_256, ALG_ECDSA_SHA256];
    if (!o.rfc7427) return { method: method as number, data: new Uint8Array(sign(hash as string, octets, { key, dsaEncoding: "ieee-p1363" })) };
    const sig = sign(hash as string, octets, { key, dsaEncoding: "der" });
    return { method: AUTH_DIGITAL_SIGNATURE, data: new Uint8Array(Buffer.concat([Buffer.of((alg as Uint8Array).length), alg as Uint8Array, sig])) };
  }
  throw new IpsecError("ERR_CONFIG", `private keys of type ${t} are not supported for IKE authentication (RSA or ECDSA)`);
}

/** Verify an AUTH payload made with a signature method. Returns a reason when it does not verify. */
export function verifyAuth(pub: KeyObject, method: number, data: Uint8Array, octets: Uint8Array): string | undefined {
  const t = pub.asymmetricKeyType;
  const ok = (f: () => boolean) => {
    try {
      return f() ? undefined : "signature does not verify";
    } catch (e) {
      return `signature does not verify (${(e as Error).message})`;
    }
  };
  if (method === AUTH_RSA_SIG) {
    if (t !== "rsa") return `AUTH method 1 (RSA) with a ${t} key`;
    return ok(() => verify("sha1", octets, { key: pub, padding: constants.RSA_PKCS1_PADDING }, data));
  }
  if (method === AUTH_ECDSA_256 || method === AUTH_ECDSA_384 || method === AUTH_ECDSA_521) {
    if (t !== "ec") return `AUTH method ${method} (ECDSA) with a ${t} key`;
    const hash = method === AUTH_ECDSA_256 ? "sha256" : method === AUTH_ECDSA_384 ? "sha384" : "sha512";
    return ok(() => verify(hash, octets, { key: pub, dsaEncoding: "ieee-p1363" }, data));
  }
  if (method !== AUTH_DIGITAL_SIGNATURE) return `AUTH method ${method} is not supported`;
  if (data.length < 2 || data[0] + 1 > data.length) return "malformed RFC 7427 AUTH data";
  const alg = Buffer.from(data.subarray(1, 1 + data[0])).toString("hex");
  const sig = data.subarray(1 + data[0]);
  const has = (oid: string) => alg.includes(oid);
  if (has(OID.rsaPss)) {
    if (t !== "rsa" && t !== "rsa-pss") return "RSASSA-PSS signature with a non-RSA key";
    const hash = has(OID.sha512) ? "sha512" : has(OID.sha384) ? "sha384" : has(OID.sha256) ? "sha256" : "sha1";
    const salt = /a2030201([0-9a-f]{2})/.exec(alg);
    const saltLength = salt ? parseInt(salt[1], 16) : 20;
    return ok(() => verify(hash, octets, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig));
  }
  const rsa = [[OID.sha256WithRSA, "sha256"], [OID.sha384WithRSA, "sha384"], [OID.sha512WithRSA, "sha512"]].find(([o]) => has(o));
  if (rsa) {
    if (t !== "rsa") return `${rsa[1]}WithRSAEncryption signature with a ${t} key`;
    return ok(() => verify(rsa[1], octets, { key: pub, padding: constants.RSA_PKCS1_PADDING }, sig));
  }
  const ec = [[OID.ecdsaSha256, "sha256"], [OID.ecdsaSha384, "sha384"], [OID.ecdsaSha512, "sha512"]].find(([o]) => has(o));
  if (ec) {
    if (t !== "ec") return `ecdsa-with-${ec[1]} signature with a ${t} key`;
    return ok(() => verify(ec[1], octets, { key: pub, dsaEncoding: "der" }, sig));
  }
  return `RFC 7427 signature algorithm ${alg} is not supported`;
}

function validAt(c: X509Certificate, now: Date): string | undefined {
  if (now < new Date(c.validFrom)) return `certificate "${oneLine(c.subject)}" is not valid before ${c.validFrom}`;
  if (now > new Date(c.validTo)) return `certificate "${oneLine(c.subject)}" expired ${c.validTo}`;
  return undefined;
}

function oneLine(s: string): string {
  return s.replace(/\n/g, ", ");
}

/**
 * The end-entity certificate (first) must chain, through the intermediates that came with
 * it, to one of `cas`. Returns a reason when it does not.
 */
export function verifyChain(certs: X509Certificate[], cas: X509Certificate[], now = new Date()): string | undefined {
  if (!certs.length) return "no certificate received";
  if (!cas.length) return "no CA certificate configured (remote.cacerts)";
  let cur = certs[0];
  const pool = certs.slice(1);
  for (let depth = 0; depth < 8; depth++) {
    const bad = validAt(cur, now);
    if (bad) return bad;
    const anchor = cas.find((ca) => cur.checkIssued(ca) && cur.verify(ca.publicKey));
    if (anchor) return validAt(anchor, now);
    const next = pool.find((c) => c.ca && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) return `certificate "${oneLine(cur.subject)}" is not issued by a trusted CA`;
    cur = next;
  }
  return "certificate chain too long";
}

/** Does the certificate hold the identity (subjectAltName)? */
export function certHasIdentity(c: X509Certificate, id: Identity): boolean {
  switch (id.type) {
    case "ipv4":
    case "ipv6":
      return c.checkIP(id.value) !== undefined;
    case "fqdn":
      return c.checkHost(id.value, { subject: "never", wildcards: false }) !== undefined;
    case "rfc822":
      return c.checkEmail(id.value, { subject: "never" }) !== undefined;
    default:
      return false;
  }
}
