/**
 * AES-ECB over counter blocks from node:crypto (OpenSSL: AES-NI where the CPU has it,
 * otherwise its constant-time bitsliced or vector-permute code). One call per batch.
 */
import { createCipheriv, createSecretKey, type Cipher } from "node:crypto";
import type { KeystreamCipher, KeystreamProvider } from "./keystream.js";

class NodeEcb implements KeystreamCipher {
  private ecb: Cipher | undefined;
  constructor(key: Uint8Array) {
    const keyObject = createSecretKey(key);
    this.ecb = createCipheriv(`aes-${key.length * 8}-ecb`, keyObject, null);
    this.ecb.setAutoPadding(false);
  }
  encryptInPlace(blocks: Uint8Array): void {
    const ks = this.ecb!.update(blocks);
    blocks.set(ks);
    ks.fill(0);
  }
  destroy(): void {
    this.ecb = undefined;
  }
}

export const nodeKeystreamProvider: KeystreamProvider = (key) => new NodeEcb(key);
