/**
 * SA proposals (RFC 7296 §3.3, §2.7): strongSwan proposal keywords from the configuration ⇄
 * transform IDs in SA payloads, and the responder's choice. A transform this implementation
 * cannot run (an IKE cipher the SK code lacks, an ESP cipher the hot path lacks, a DH group
 * node:crypto lacks) is never offered or accepted.
 */
import * as C from "./constants.js";
import type { EncryptionAlgorithm, EspProposal, IkeProposal } from "../config/proposals.js";
import { supportedGroup } from "./dh.js";

export interface Transform {
  type: number;
  id: number;
  keyLength?: number;
}

export interface Proposal {
  number: number;
  protocolId: number;
  spi: Uint8Array;
  transforms: Transform[];
}

/** What a chosen proposal means. */
export interface Chosen {
  number: number;
  spi: Uint8Array;
  encr: number;
  keyLen: number;
  integ?: number;
  prf?: number;
  group?: number;
  esn?: boolean;
}

const PRF: Record<string, number> = { prfsha256: C.PRF_HMAC_SHA2_256, prfsha384: C.PRF_HMAC_SHA2_384, prfsha512: C.PRF_HMAC_SHA2_512, prfsha1: C.PRF_HMAC_SHA1 };
const INTEG: Record<string, number> = { sha256: C.AUTH_HMAC_SHA2_256_128, sha384: C.AUTH_HMAC_SHA2_384_192, sha512: C.AUTH_HMAC_SHA2_512_256, sha1: C.AUTH_HMAC_SHA1_96 };
const GROUP: Record<string, number> = { modp2048: 14, modp3072: 15, modp4096: 16, modp6144: 17, modp8192: 18, ecp256: 19, ecp384: 20, ecp521: 21, curve25519: 31, curve448: 32 };

function encrId(e: EncryptionAlgorithm): number | undefined {
  if (e.cipher === "aes-gcm") return e.icvBytes === 8 ? C.ENCR_AES_GCM_8 : e.icvBytes === 12 ? C.ENCR_AES_GCM_12 : C.ENCR_AES_GCM_16;
  if (e.cipher === "chacha20-poly1305") return C.ENCR_CHACHA20_POLY1305;
  if (e.cipher === "aes-cbc") return C.ENCR_AES_CBC;
  return undefined;
}

function encrTransforms(list: EncryptionAlgorithm[], forEsp: boolean): Transform[] {
  const out: Transform[] = [];
  for (const e of list) {
    const id = encrId(e);
    if (id === undefined) continue;
    if (forEsp && !e.implemented) continue;
    out.push(id === C.ENCR_CHACHA20_POLY1305 ? { type: C.TRANSFORM_ENCR, id } : { type: C.TRANSFORM_ENCR, id, keyLength: e.keyBits });
  }
  return out;
}

/** SA payload proposals for IKE (protocol IKE, no SPI in IKE_SA_INIT). */
export function ikeProposals(ps: IkeProposal[], spi = new Uint8Array(0)): Proposal[] {
  const out: Proposal[] = [];
  for (const p of ps) {
    const t: Transform[] = [...encrTransforms(p.encryption, false)];
    if (t.length === 0) continue;
    t.push(...p.prf.filter((x) => x in PRF).map((x) => ({ type: C.TRANSFORM_PRF, id: PRF[x] })));
    if (!p.encryption.some((e) => e.aead)) t.push(...p.integrity.filter((x) => x in INTEG).map((x) => ({ type: C.TRANSFORM_INTEG, id: INTEG[x] })));
    t.push(...p.ke.filter((x) => x in GROUP && supportedGroup(GROUP[x])).map((x) => ({ type: C.TRANSFORM_KE, id: GROUP[x] })));
    if (!t.some((x) => x.type === C.TRANSFORM_PRF) || !t.some((x) => x.type === C.TRANSFORM_KE)) continue;
    out.push({ number: out.length + 1, protocolId: C.PROTO_IKE, spi, transforms: t });
  }
  return out;
}

/**
 * SA payload proposals for an ESP CHILD_SA with our inbound SPI. `pfs` adds the KE transforms
 * (CREATE_CHILD_SA; IKE_AUTH's CHILD_SA takes its keys from the IKE_SA's exchange, as
 * strongSwan strips the groups there too).
 */
export function espProposals(ps: EspProposal[], spi: Uint8Array, pfs = false): Proposal[] {
  const out: Proposal[] = [];
  for (const p of ps) {
    const t: Transform[] = encrTransforms(p.encryption, true).filter((x) => x.id !== C.ENCR_AES_CBC);
    if (t.length === 0) continue;
    if (pfs && p.ke.length) {
      // "none" (KE transform 0) makes PFS optional; a proposal whose groups we all lack is not
      // offered at all rather than offered without PFS.
      const ke = p.ke.flatMap((x) => (x === "none" || x === "modpnone" ? [0] : x in GROUP && supportedGroup(GROUP[x]) ? [GROUP[x]] : []));
      if (ke.length === 0) continue;
      t.push(...ke.map((id) => ({ type: C.TRANSFORM_KE, id })));
    }
    const esn = p.esn.length ? p.esn : ["noesn" as const];
    t.push(...esn.map((e) => ({ type: C.TRANSFORM_ESN, id: e === "esn" ? C.ESN_YES : C.ESN_NO })));
    out.push({ number: out.length + 1, protocolId: C.PROTO_ESP, spi, transforms: t });
  }
  return out;
}

/**
 * The DH groups of a CHILD_SA's ESP proposals, in order of preference: non-empty means PFS
 * (RFC 7296 §1.3.1, §2.17) on every CREATE_CHILD_SA of it; the first one goes in the KE payload.
 */
export function espPfsGroups(ps: EspProposal[]): number[] {
  const out: number[] = [];
  for (const p of ps) for (const x of p.ke) if (x in GROUP && supportedGroup(GROUP[x]) && !out.includes(GROUP[x])) out.push(GROUP[x]);
  return out;
}

/** Put the proposals offering DH group `group` first (and number them again): the one our KE payload is for. */
export function preferGroup(ps: Proposal[], group: number): void {
  const lacks = (p: Proposal) => Number(!p.transforms.some((t) => t.type === C.TRANSFORM_KE && t.id === group));
  ps.sort((a, b) => lacks(a) - lacks(b));
  ps.forEach((p, i) => (p.number = i + 1));
}

/** SA payload fields (the codec's shape) for proposals. */
export function saFields(ps: Proposal[]): Record<string, unknown> {
  return {
    proposals: ps.map((p) => ({
      number: p.number,
      protocolId: p.protocolId,
      spi: p.spi,
      transforms: p.transforms.map((t) => (t.keyLength ? { type: t.type, id: t.id, keyLength: t.keyLength } : { type: t.type, id: t.id })),
    })),
  };
}

/** Proposals from decoded SA payload fields. */
export function parseSa(fields: Record<string, unknown>): Proposal[] {
  const ps = (fields.proposals as Record<string, unknown>[]) ?? [];
  return ps.map((p) => ({
    number: p.number as number,
    protocolId: p.protocolId as number,
    spi: Buffer.from(String(p.spi ?? ""), "hex"),
    transforms: ((p.transforms as Record<string, unknown>[]) ?? []).map((t) => ({
      type: t.type as number,
      id: t.id as number,
      keyLength: t.keyLength as number | undefined,
      // An attribute we do not know makes the transform unusable (§3.3.6).
      unknownAttr: ((t.attributes as Record<string, unknown>[]) ?? []).some((a) => a.type !== C.ATTR_KEY_LENGTH),
    })) as Transform[],
  }));
}

function firstOf(ours: Transform[], theirs: Transform[], type: number): Transform | undefined {
  for (const o of ours.filter((t) => t.type === type)) {
    const m = theirs.find((t) => t.type === type && t.id === o.id && (t.keyLength ?? 0) === (o.keyLength ?? 0) && !(t as { unknownAttr?: boolean }).unknownAttr);
    if (m) return m;
  }
  return undefined;
}

/**
 * The responder's choice (§2.7): the first of our proposals (in our order of preference) that
 * one of the peer's proposals covers, taking one transform of each type. Returns the peer's
 * proposal number and SPI with the chosen transforms, or undefined (NO_PROPOSAL_CHOSEN).
 */
export function choose(ours: Proposal[], theirs: Proposal[], protocolId: number): { chosen: Chosen; reply: Proposal } | undefined {
  for (const o of ours) {
    for (const t of theirs) {
      if (t.protocolId !== protocolId) continue;
      const encr = firstOf(o.transforms, t.transforms, C.TRANSFORM_ENCR);
      if (!encr) continue;
      const aead = [C.ENCR_AES_GCM_8, C.ENCR_AES_GCM_12, C.ENCR_AES_GCM_16, C.ENCR_CHACHA20_POLY1305].includes(encr.id);
      const prf = firstOf(o.transforms, t.transforms, C.TRANSFORM_PRF);
      const integ = firstOf(o.transforms, t.transforms, C.TRANSFORM_INTEG);
      // A peer that proposes KE NONE (0) among its groups makes PFS optional (§3.3.3): taken when we name no group.
      const ke = firstOf(o.transforms, t.transforms, C.TRANSFORM_KE) ?? (o.transforms.some((x) => x.type === C.TRANSFORM_KE) ? undefined : t.transforms.find((x) => x.type === C.TRANSFORM_KE && x.id === 0));
      const esn = firstOf(o.transforms, t.transforms, C.TRANSFORM_ESN);
      if (protocolId === C.PROTO_IKE && (!prf || !ke)) continue;
      if (!aead && !integ) continue;
      // Every transform type the peer proposes must be answered with one of its transforms.
      const types = new Set(t.transforms.map((x) => x.type));
      if (aead) types.delete(C.TRANSFORM_INTEG);
      if (protocolId === C.PROTO_ESP && types.has(C.TRANSFORM_ESN) && !esn) continue;
      if (types.has(C.TRANSFORM_KE) && !ke) continue;
      // Our groups without NONE make PFS required: a peer proposing none is refused (as strongSwan does).
      const oursKe = o.transforms.filter((x) => x.type === C.TRANSFORM_KE);
      if (!ke && oursKe.length && !oursKe.some((x) => x.id === 0)) continue;
      const picked = [encr, prf, aead ? undefined : integ, ke, protocolId === C.PROTO_ESP ? esn : undefined].filter((x): x is Transform => !!x && types.has(x.type));
      return {
        chosen: {
          number: t.number,
          spi: t.spi,
          encr: encr.id,
          keyLen: encr.keyLength ?? 256,
          integ: aead ? undefined : integ?.id,
          prf: prf?.id,
          group: ke?.id,
          esn: esn ? esn.id === C.ESN_YES : undefined,
        },
        reply: { number: t.number, protocolId, spi: t.spi, transforms: picked.map((x) => ({ type: x.type, id: x.id, keyLength: x.keyLength })) },
      };
    }
  }
  return undefined;
}

/**
 * As choose(), but preferring a proposal with the KE group the peer already sent a KE payload
 * for (CREATE_CHILD_SA: saves the INVALID_KE_PAYLOAD round when we could take it anyway).
 */
export function chooseWithGroup(ours: Proposal[], theirs: Proposal[], protocolId: number, group: number): { chosen: Chosen; reply: Proposal } | undefined {
  const only = ours.map((p) => ({ ...p, transforms: p.transforms.filter((t) => t.type !== C.TRANSFORM_KE || t.id === group) })).filter((p) => p.transforms.some((t) => t.type === C.TRANSFORM_KE));
  return choose(only, theirs, protocolId) ?? choose(ours, theirs, protocolId);
}

/** ICV length of an AEAD ESP transform. */
export function icvOf(encr: number): number {
  return encr === C.ENCR_AES_GCM_8 ? 8 : encr === C.ENCR_AES_GCM_12 ? 12 : 16;
}
