// IKEv2 (RFC 7296) message codec, SK payload protection and key derivation.
export * from "./constants.js";
export { IkeError, type IkeErrorCode } from "./errors.js";
export {
  decodeIkeHeader,
  decodeIkeMessage,
  decodeIkeMessageAsync,
  encodeIkeMessage,
  encodeIkeMessageAsync,
  payloadName,
  type EncodeOptions,
  type IkeHeader,
  type IkeMessage,
  type IkeMessageInput,
  type IkePayload,
  type IkePayloadInput,
  type IkeSaKeys,
} from "./message.js";
export { transformName } from "./payloads.js";
export { openSk, sealSk, skSuite, type SkKeys, type SkOpened } from "./sk.js";
export {
  ikeCrypto,
  nodeIkeCrypto,
  runAsync,
  runSync,
  setIkeCrypto,
  webIkeCrypto,
  type IkeAead,
  type IkeCrypto,
  type IkeCryptoSync,
  type IkeHash,
} from "./crypto.js";
export {
  deriveChildSaKeys,
  deriveIkeSaKeys,
  ikeSaKeyLengths,
  prf,
  prfPlus,
  rekeySkeyseed,
  skeyseed,
  toIkeSaKeys,
  type ChildSaKeys,
  type ChildSaSuite,
  type IkeSaKeyMaterial,
  type IkeSaSuite,
} from "./keys.js";
export { formatIkev2DecryptionTable, parseIkev2DecryptionTable, wiresharkEncrName, wiresharkIntegName } from "./wireshark-keys.js";
export { encrSpec, integSpec, prfSpec, type EncrSpec, type IntegSpec, type PrfSpec } from "./algorithms.js";
