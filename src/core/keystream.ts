/**
 * Where the "node" AES-GCM engine gets its AES: a provider that, given a key, returns a
 * cipher encrypting many 16-byte blocks in place with one call. The Node entry point
 * registers one over node:crypto (node-keystream.ts); the browser entry registers none.
 */
export interface KeystreamCipher {
  /** Replace every 16-byte block of `blocks` by its AES encryption (ECB). */
  encryptInPlace(blocks: Uint8Array): void;
  destroy(): void;
}

export type KeystreamProvider = (key: Uint8Array) => KeystreamCipher;

let provider: KeystreamProvider | undefined;

export function setKeystreamProvider(p: KeystreamProvider | undefined): void {
  provider = p;
}

export async function keystreamProvider(): Promise<KeystreamProvider | undefined> {
  return provider;
}

/** The registered provider, for synchronous constructors (Esp). */
export function currentKeystreamProvider(): KeystreamProvider | undefined {
  return provider;
}
