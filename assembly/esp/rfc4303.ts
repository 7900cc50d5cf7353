// RFC 4303 (ESP) and RFC 4106 (AES-GCM in ESP): specification constants.

// RFC 4303 §2: SPI ‖ Sequence Number ‖ payload (IV ‖ data) ‖ padding ‖ pad length ‖ next header ‖ ICV.
export const ESP_SPI: i32 = 0;
export const ESP_SEQ: i32 = 4;
export const ESP_HDR_LEN: i32 = 8;
/** RFC 4303 §2.4–2.6: pad length and next header. */
export const ESP_TRAILER_LEN: i32 = 2;
/** RFC 4303 §2.6: next header 59 marks a dummy packet, to be dropped silently. */
export const NEXT_HEADER_NONE: i32 = 59;
/** RFC 4891 §2 / RFC 4213: IPv6 in IPv4. */
export const NEXT_HEADER_IPV6: i32 = 41;
/** RFC 4303 §2.4: padding aligns pad length and next header to a 4-byte boundary. */
export const ESP_ALIGN: i32 = 4;
/** RFC 4303 §2.4: at most 255 bytes of padding. */
export const ESP_MAX_PAD: i32 = 255;

// RFC 4106 §3.1, §4, §5.
export const GCM_SALT_LEN: i32 = 4;
export const GCM_IV_LEN: i32 = 8;
/** RFC 4106 §5: AAD = SPI ‖ seq (8 bytes) or SPI ‖ seq-high ‖ seq-low with ESN (12 bytes). */
export const GCM_AAD_LEN: i32 = 8;
export const GCM_AAD_LEN_ESN: i32 = 12;

/** RFC 4303 §3.3.3: the counter never cycles: last sequence number of an SA. */
export const SEQ_MAX_32: u64 = 0xffffffff;
export const SEQ_MAX_64: u64 = 0xffffffffffffffff;
