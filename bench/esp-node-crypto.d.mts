export type NodeEspAlgorithm = "aes-gcm" | "chacha20-poly1305" | "aes-gmac";
export interface NodeSaParams {
  spi?: number;
  keymat: Uint8Array;
  seq?: number | bigint;
  icv?: number;
  esn?: boolean;
  iv?: Uint8Array;
  nextHeader?: number;
  padding?: Uint8Array;
  /** Overrides the pad length byte (forged padding). */
  padLength?: number;
  seqHigh?: number;
  /** Default "aes-gcm". */
  algorithm?: NodeEspAlgorithm;
}
export function espSealNode(sa: NodeSaParams & { spi: number; seq: number | bigint }, payload: Uint8Array): Uint8Array;
export function espOpenNode(
  sa: NodeSaParams,
  packet: Uint8Array,
): { seq: number; payload: Uint8Array; nextHeader: number; padLen: number; padding: Uint8Array };
