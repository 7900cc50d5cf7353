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
export { createPrefixTable, PrefixTable } from "./prefix-table.js";
export {
  createDataplane,
  Dataplane,
  PipelineBatch,
  type DataplaneOptions,
  type PacketKind,
  type TunnelPolicy,
  type TunnelState,
  type SaSelectors,
} from "./pipeline.js";
export type { TunnelConfig } from "./tunnel.js";
export { Spd, type SpdEntry, type SpdAction, type Selectors } from "./spd.js";
export { Pad, parseIdentity, type PadEntry } from "./pad.js";
export { policyFromConfig, type Policy } from "./policy.js";
export { loadConfig, ConfigError, type Config } from "./config/index.js";
export { Reassembler, type ReassemblyOptions } from "./reassembly.js";
export { parseIp, parsePrefix, formatIp, prefixRange, hostRange, type AddrRange, type IpPrefix } from "./addr.js";
export { createAesGmac, AesGmac, GMAC_IV_LENGTH, GMAC_TAG_LENGTH } from "./aes-gmac.js";
export { espAlgorithm, ESP_ALGORITHM_KEYWORDS, type EspAlgorithmSpec } from "./esp-algorithms.js";
export { ESP_ALGORITHMS, type EspAlgorithm } from "./esp.js";
export * as decode from "./decode/index.js";
