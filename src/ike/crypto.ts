/**
 * The cryptography IKE needs (HMAC, AES-CBC without padding, AEAD), behind one small
 * interface so that the codec runs both in Node and in a browser bundle.
 *
 *  - `IkeCryptoSync`: synchronous. The default in Node comes from node:crypto, reached
 *    through `process.getBuiltinModule` (Node ≥ 20.16) so that no `node:` import appears
 *    in this module and a browser bundle stays clean. `setIkeCrypto()` replaces it.
 *  - `IkeCrypto`: the same operations, each allowed to return a Promise — what WebCrypto
 *    needs. `webIkeCrypto()` builds one from WebCrypto (HMAC, AES-CBC) and the project's
 *    own wasm AEADs (AES-GCM, ChaCha20-Poly1305).
 *
 * Code that uses crypto is written once, as a generator that yields `CryptoOp`s; `runSync`
 * and `runAsync` drive it with either kind of provider ("sans-IO" crypto).
 */
import { IkeError } from "./errors.js";

export type IkeHash = "sha1" | "sha256" | "sha384" | "sha512";
export type IkeAead = "aes-gcm" | "chacha20-poly1305";

export interface IkeCryptoSync {
  hmac(hash: IkeHash, key: Uint8Array, data: Uint8Array): Uint8Array;
  /** AES-CBC with no padding; data is a whole number of 16-byte blocks. */
  aesCbc(encrypt: boolean, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /** Returns ciphertext ‖ tag (tagLength bytes). */
  aeadSeal(alg: IkeAead, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagLength: number): Uint8Array;
  /** Returns the plaintext, or null when the tag does not verify. */
  aeadOpen(alg: IkeAead, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagLength: number): Uint8Array | null;
}

type Async<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => R | Promise<R> : T[K] };
/** The same operations as IkeCryptoSync, each free to return a Promise. */
export type IkeCrypto = Async<IkeCryptoSync>;

export type CryptoOp =
  | { op: "hmac"; hash: IkeHash; key: Uint8Array; data: Uint8Array }
  | { op: "aesCbc"; encrypt: boolean; key: Uint8Array; iv: Uint8Array; data: Uint8Array }
  | { op: "aeadSeal"; alg: IkeAead; key: Uint8Array; nonce: Uint8Array; aad: Uint8Array; data: Uint8Array; tagLength: number }
  | { op: "aeadOpen"; alg: IkeAead; key: Uint8Array; nonce: Uint8Array; aad: Uint8Array; data: Uint8Array; tagLength: number };

export type CryptoSteps<T> = Generator<CryptoOp, T, Uint8Array | null>;

function dispatch<R>(c: { [K in keyof IkeCryptoSync]: (...a: Parameters<IkeCryptoSync[K]>) => R }, o: CryptoOp): R {
  switch (o.op) {
    case "hmac":
      return c.hmac(o.hash, o.key, o.data);
    case "aesCbc":
      return c.aesCbc(o.encrypt, o.key, o.iv, o.data);
    case "aeadSeal":
      return c.aeadSeal(o.alg, o.key, o.nonce, o.aad, o.data, o.tagLength);
    case "aeadOpen":
      return c.aeadOpen(o.alg, o.key, o.nonce, o.aad, o.data, o.tagLength);
  }
}

/** Drive `steps` with a synchronous provider (or a getter, called at the first operation only). */
export function runSync<T>(steps: CryptoSteps<T>, crypto: IkeCryptoSync | (() => IkeCryptoSync)): T {
  let c: IkeCryptoSync | undefined = typeof crypto === "function" ? undefined : crypto;
  let r = steps.next();
  while (!r.done) {
    c ??= (crypto as () => IkeCryptoSync)();
    r = steps.next(dispatch(c as never, r.value) as Uint8Array | null);
  }
  return r.value;
}

export async function runAsync<T>(steps: CryptoSteps<T>, crypto: IkeCrypto): Promise<T> {
  let r = steps.next();
  while (!r.done) r = steps.next((await dispatch(crypto as never, r.value)) as Uint8Array | null);
  return r.value;
}

// ---- the Node provider (node:crypto, OpenSSL) ----

interface NodeCryptoLike {
  createHmac(alg: string, key: Uint8Array): { update(d: Uint8Array): unknown; digest(): Uint8Array };
  createCipheriv(alg: string, key: Uint8Array, iv: Uint8Array, opts?: object): NodeCipher;
  createDecipheriv(alg: string, key: Uint8Array, iv: Uint8Array, opts?: object): NodeCipher;
}
interface NodeCipher {
  setAutoPadding(p: boolean): unknown;
  setAAD(a: Uint8Array, opts?: object): unknown;
  setAuthTag(t: Uint8Array): unknown;
  getAuthTag(): Uint8Array;
  update(d: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

const cat2 = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const o = new Uint8Array(a.length + b.length);
  o.set(a, 0);
  o.set(b, a.length);
  return o;
};
const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function aeadName(alg: IkeAead, keyLen: number): string {
  if (alg === "chacha20-poly1305") return "chacha20-poly1305";
  return `aes-${keyLen * 8}-gcm`;
}

/** node:crypto (OpenSSL) as an IkeCryptoSync. */
export function nodeIkeCrypto(nodeCrypto: unknown): IkeCryptoSync {
  const c = nodeCrypto as NodeCryptoLike;
  return {
    hmac(hash, key, data) {
      const h = c.createHmac(hash, key);
      h.update(data);
      return u8(h.digest());
    },
    aesCbc(encrypt, key, iv, data) {
      const name = `aes-${key.length * 8}-cbc`;
      const x = encrypt ? c.createCipheriv(name, key, iv) : c.createDecipheriv(name, key, iv);
      x.setAutoPadding(false);
      return u8(cat2(x.update(data), x.final()));
    },
    aeadSeal(alg, key, nonce, aad, plaintext, tagLength) {
      const x = c.createCipheriv(aeadName(alg, key.length), key, nonce, { authTagLength: tagLength });
      x.setAAD(aad, { plaintextLength: plaintext.length });
      const ct = cat2(x.update(plaintext), x.final());
      return cat2(ct, x.getAuthTag().subarray(0, tagLength));
    },
    aeadOpen(alg, key, nonce, aad, sealed, tagLength) {
      if (sealed.length < tagLength) return null;
      const ctLen = sealed.length - tagLength;
      const x = c.createDecipheriv(aeadName(alg, key.length), key, nonce, { authTagLength: tagLength });
      x.setAuthTag(sealed.subarray(ctLen));
      x.setAAD(aad, { plaintextLength: ctLen });
      const pt = x.update(sealed.subarray(0, ctLen));
      try {
        return u8(cat2(pt, x.final()));
      } catch {
        return null;
      }
    },
  };
}

let current: IkeCryptoSync | undefined;
let probed = false;

/** Replace the synchronous provider used when none is passed (undefined: back to the default). */
export function setIkeCrypto(c: IkeCryptoSync | undefined): void {
  current = c;
  probed = c !== undefined;
}

/** The synchronous provider: the one set, else node:crypto where the runtime has it. */
export function ikeCrypto(): IkeCryptoSync {
  if (!probed) {
    probed = true;
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = typeof p?.getBuiltinModule === "function" ? p.getBuiltinModule("node:crypto") : undefined;
    if (mod) current = nodeIkeCrypto(mod);
  }
  if (!current) {
    throw new IkeError(
      "ERR_ENGINE",
      "no synchronous IKE crypto provider in this runtime: use the *Async functions with webIkeCrypto(), or setIkeCrypto()",
    );
  }
  return current;
}

// ---- the browser provider: WebCrypto for HMAC and AES-CBC, project wasm for the AEADs ----

const HASH_NAMES: Record<IkeHash, string> = { sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };

type BufferSourceLike = ArrayBuffer;
const ab = (b: Uint8Array): BufferSourceLike => b.slice().buffer as ArrayBuffer;

/**
 * An async IkeCrypto over WebCrypto (`subtle`, default globalThis.crypto.subtle) and the
 * wasm AES-GCM / ChaCha20-Poly1305 of this package (created per call and destroyed after).
 */
export function webIkeCrypto(subtle: SubtleCrypto = globalThis.crypto.subtle): IkeCrypto {
  return {
    async hmac(hash, key, data) {
      const k = await subtle.importKey("raw", ab(key), { name: "HMAC", hash: HASH_NAMES[hash] }, false, ["sign"]);
      return new Uint8Array(await subtle.sign("HMAC", k, ab(data)));
    },
    async aesCbc(encrypt, key, iv, data) {
      // WebCrypto's AES-CBC always pads (PKCS#7). Encrypt: drop the final padding block.
      // Decrypt: append one block that decrypts to a full block of padding (E(pad ⊕ c_last)).
      const k = await subtle.importKey("raw", ab(key), "AES-CBC", false, ["encrypt", "decrypt"]);
      if (encrypt) {
        const out = new Uint8Array(await subtle.encrypt({ name: "AES-CBC", iv: ab(iv) }, k, ab(data)));
        return out.subarray(0, data.length);
      }
      if (data.length === 0) return new Uint8Array(0);
      const last = data.subarray(data.length - 16);
      const pad = new Uint8Array(16).fill(16);
      const extra = new Uint8Array(await subtle.encrypt({ name: "AES-CBC", iv: ab(last) }, k, ab(pad))).subarray(0, 16);
      const out = await subtle.decrypt({ name: "AES-CBC", iv: ab(iv) }, k, ab(cat2(data, extra)));
      return new Uint8Array(out);
    },
    async aeadSeal(alg, key, nonce, aad, plaintext, tagLength) {
      const a = await wasmAead(alg, key);
      try {
        return alg === "aes-gcm" ? a.seal(nonce, plaintext, aad, tagLength) : a.seal(nonce, plaintext, aad);
      } finally {
        a.destroy();
      }
    },
    async aeadOpen(alg, key, nonce, aad, sealed, tagLength) {
      const a = await wasmAead(alg, key);
      try {
        return alg === "aes-gcm" ? a.open(nonce, sealed, aad, tagLength) : a.open(nonce, sealed, aad);
      } catch (e) {
        if ((e as { code?: string }).code === "ERR_AUTH") return null;
        throw e;
      } finally {
        a.destroy();
      }
    },
  };
}

interface WasmAead {
  seal(nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array, tagLength?: number): Uint8Array;
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, tagLength?: number): Uint8Array;
  destroy(): void;
}

async function wasmAead(alg: IkeAead, key: Uint8Array): Promise<WasmAead> {
  if (alg === "aes-gcm") {
    const { createAesGcm } = await import("../aes-gcm.js");
    return createAesGcm(key, { engine: "wasm" });
  }
  const { createChaCha20Poly1305 } = await import("../chacha20-poly1305.js");
  return createChaCha20Poly1305(key);
}
