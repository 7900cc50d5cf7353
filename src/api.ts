// The public API shared by the Node and browser entry points.
export { IpsecError, type ErrorCode } from "./errors.js";
export {
  createAesGcm,
  AesGcm,
  GcmBatch,
  GCM_NONCE_LENGTH,
  GCM_TAG_LENGTHS,
  type AesGcmOptions,
  type GcmEngine,
  type GcmBatchOptions,
} from "./aes-gcm.js";
export { hasSimd } from "./core/wasm.js";
export {
  createEsp,
  Esp,
  EspBatch,
  EspDropError,
  DROP_REASONS,
  DROP_CODES,
  ESP_SLOT_HEADROOM,
  type DropReason,
  type EspOptions,
  type EspBatchOptions,
  type SaParams,
  type InboundSaParams,
  type OutboundSaParams,
  type SaHandle,
  type SaStats,
  type UdpKind,
} from "./esp.js";
export {
  createChaCha20Poly1305,
  ChaCha20Poly1305,
  CHACHA20_POLY1305_KEY_LENGTH,
  CHACHA20_POLY1305_NONCE_LENGTH,
  CHACHA20_POLY1305_TAG_LENGTH,
  type ChaCha20Poly1305Options,
} from "./chacha20-poly1305.js";
