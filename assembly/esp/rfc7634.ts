// RFC 7634 (ChaCha20, Poly1305 and their use in IKE and IPsec): ESP with the RFC 8439
// AEAD. Specification constants; the nonce and AAD rules are RFC 4106's, so esp.ts builds
// them with the same code as for AES-GCM.
//
//   §2:   keying material = 256-bit ChaCha20 key ‖ 32-bit salt (36 bytes)
//   §2:   nonce = salt ‖ IV, the IV being 64 bits carried in every packet, unique per key
//   §2:   ICV = the 128-bit Poly1305 tag (no truncated ICVs)
//   §2.1: AAD = SPI ‖ seq (8 bytes), or SPI ‖ seq-high ‖ seq-low with ESN (12 bytes),
//         as RFC 4106 §5
//   §2:   padding only to the 4-byte alignment of RFC 4303 §2.4 (ChaCha20 is a stream cipher)

export const CCP_ESP_KEY_LEN: i32 = 32;
export const CCP_ESP_SALT_LEN: i32 = 4;
export const CCP_ESP_IV_LEN: i32 = 8;
export const CCP_ESP_ICV_LEN: i32 = 16;
