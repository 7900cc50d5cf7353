/**
 * Every error ipsec6in4 throws on purpose is an IpsecError with a stable `code`, in the
 * style of Node's own `err.code`. Messages never contain key material.
 */
export type ErrorCode =
  | "ERR_AUTH"
  | "ERR_NONCE_LENGTH"
  | "ERR_TAG_LENGTH"
  | "ERR_KEY_LENGTH"
  | "ERR_DESTROYED"
  | "ERR_INPUT_TYPE"
  | "ERR_BATCH_FULL"
  | "ERR_NO_SIMD"
  | "ERR_ENGINE"
  | "ERR_OUT_OF_MEMORY"
  | "ERR_USAGE"
  | "ERR_CONFIG"
  // SA database
  | "ERR_SA_INDEX"
  | "ERR_SA_TABLE_FULL"
  | "ERR_SPI"
  | "ERR_SPI_IN_USE"
  | "ERR_REPLAY_WINDOW"
  // ESP drops on the per-packet API (see src/esp.ts DROP_CODES)
  | "ERR_ESP_RUNT"
  | "ERR_ESP_LENGTH"
  | "ERR_ESP_NO_SA"
  | "ERR_ESP_REPLAY"
  | "ERR_ESP_TOO_OLD"
  | "ERR_ESP_PADDING"
  | "ERR_ESP_DUMMY"
  | "ERR_ESP_SEQ_EXHAUSTED"
  | "ERR_ESP_NO_ROOM"
  | "ERR_ESP_BAD_SA"
  | "ERR_ESP_BAD_SEQ"
  | "ERR_UDP_LENGTH"
  // RFC 4213 / RFC 4891 pipelines
  | "ERR_IPV4_HEADER"
  | "ERR_IPV6_HEADER"
  | "ERR_SPOOFED_OUTER"
  | "ERR_SPOOFED_INNER"
  | "ERR_INGRESS"
  | "ERR_CLEARTEXT"
  | "ERR_SELECTOR"
  | "ERR_NOT_IPV6"
  | "ERR_NO_TUNNEL"
  | "ERR_NO_ROUTE"
  | "ERR_NO_SA"
  | "ERR_TOO_BIG"
  | "ERR_NOT_TUNNEL"
  | "ERR_POLICY_DISCARD"
  // IKEv2
  | "ERR_IKE_KE"
  | "ERR_IKE_MALFORMED"
  | "ERR_IKE_CRITICAL"
  | "ERR_IKE_INTEGRITY"
  | "ERR_IKE_TRUNCATED"
  | "ERR_IKE_TRAILING"
  | "ERR_IKE_VERSION"
  | "ERR_IKE_PADDING"
  | "ERR_IKE_ALGORITHM"
  | "ERR_IKE_KEYFILE"
  | "ERR_IKE_TIMEOUT"
  | "ERR_IKE_AUTH"
  | "ERR_IKE_REFUSED"
  // decoder
  | "ERR_CAPTURE"
  | "ERR_KEYS"
  | "ERR_FILE"
  | "OK";

export class IpsecError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "IpsecError";
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new IpsecError(code, message);
}
