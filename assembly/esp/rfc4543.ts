// RFC 4543 (GMAC in IPsec ESP and AH): ENCR_NULL_AUTH_AES_GMAC, integrity without
// confidentiality. The payload travels in the clear; GMAC (GCM with an empty plaintext,
// gcm.ts gmacSign/gmacVerify) authenticates everything as AAD.
//
//   §3.1: the 8-byte IV is carried in every packet (here: the 64-bit sequence number)
//   §3.2: nonce = salt ‖ IV
//   §5.4: keying material = AES key ‖ 4-byte salt (20, 28 or 36 bytes)
//   §3.3: AAD = SPI ‖ seq ‖ IV ‖ payload ‖ padding ‖ pad length ‖ next header
//         (Figure 3), with ESN: SPI ‖ seq-high ‖ seq-low ‖ IV ‖ … (Figure 4);
//         the plaintext is empty
//   §3.4: ICV = the 16-byte GMAC tag
//
// Without ESN the AAD is the packet as it is on the wire, from the SPI to the next header:
// one contiguous piece. With ESN the high half is not on the wire, so the first 16 bytes
// (SPI ‖ seq-high ‖ seq-low ‖ IV[0..4)) are assembled in a scratch block and the rest is
// the wire from IV[4] on: GHASH sees the same AAD without the packet being copied.

import { ESP_HDR_LEN } from "./rfc4303";

export const GMAC_SALT_LEN: i32 = 4;
export const GMAC_IV_LEN: i32 = 8;
export const GMAC_ICV_LEN: i32 = 16;

/**
 * Build the AAD head for an ESP packet at esp whose AAD runs to esp + end (the end of the
 * trailer). Returns the head length (0 or 16) written at block; the rest of the AAD starts
 * at esp + gmacRestOffset(esn).
 */
@inline export function gmacAadHead(esp: usize, seqHi: u32, esn: bool, block: usize): i32 {
  if (!esn) return 0;
  store<u32>(block, load<u32>(esp)); // SPI
  store<u32>(block + 4, bswap<u32>(seqHi)); // seq-high (RFC 4543 §3.3, Figure 4)
  store<u32>(block + 8, load<u32>(esp + 4)); // seq-low
  store<u32>(block + 12, load<u32>(esp + <usize>ESP_HDR_LEN)); // IV[0..4)
  return 16;
}

/** Where the contiguous rest of the AAD starts, from the SPI. */
@inline export function gmacRestOffset(esn: bool): i32 {
  return esn ? ESP_HDR_LEN + 4 : 0;
}
