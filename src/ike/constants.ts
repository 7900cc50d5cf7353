/**
 * IKEv2 specification constants: RFC 7296 §3 and the IANA "Internet Key Exchange Version 2
 * (IKEv2) Parameters" registry, plus the RFCs that add to it (RFC 5282, 7383, 7634, 4868).
 * Numbers only; names for display come from the `*_NAMES` maps next to them.
 */

// ---- RFC 7296 §3.1: the IKE header ----
export const IKE_HEADER_LEN = 28;
export const IKE_SPI_LEN = 8;
export const IKE_MAJOR_VERSION = 2;
export const IKE_MINOR_VERSION = 0;
/** §3.1 Flags: bit 3 (I)nitiator, bit 4 (V)ersion, bit 5 (R)esponse. */
export const IKE_FLAG_INITIATOR = 0x08;
export const IKE_FLAG_VERSION = 0x10;
export const IKE_FLAG_RESPONSE = 0x20;

// ---- §3.1 Exchange Types ----
export const IKE_SA_INIT = 34;
export const IKE_AUTH = 35;
export const CREATE_CHILD_SA = 36;
export const INFORMATIONAL = 37;
export const IKE_SESSION_RESUME = 38; // RFC 5723
export const IKE_INTERMEDIATE = 43; // RFC 9242
export const EXCHANGE_NAMES: Readonly<Record<number, string>> = {
  34: "IKE_SA_INIT",
  35: "IKE_AUTH",
  36: "CREATE_CHILD_SA",
  37: "INFORMATIONAL",
  38: "IKE_SESSION_RESUME",
  43: "IKE_INTERMEDIATE",
  44: "IKE_FOLLOWUP_KE", // RFC 9370
};

// ---- §3.2 Payload Types ----
/** §3.2 generic payload header: Next Payload (1), C + RESERVED (1), Payload Length (2). */
export const PAYLOAD_HDR_LEN = 4;
export const PAYLOAD_CRITICAL = 0x80;
export const PT_NONE = 0;
export const PT_SA = 33;
export const PT_KE = 34;
export const PT_IDI = 35;
export const PT_IDR = 36;
export const PT_CERT = 37;
export const PT_CERTREQ = 38;
export const PT_AUTH = 39;
export const PT_NONCE = 40;
export const PT_NOTIFY = 41;
export const PT_DELETE = 42;
export const PT_VENDOR = 43;
export const PT_TSI = 44;
export const PT_TSR = 45;
export const PT_SK = 46;
export const PT_CP = 47;
export const PT_EAP = 48;
export const PT_SKF = 53; // RFC 7383 §2.5
/**
 * Short names as RFC 7296 §3.2 writes them. The Nonce payload (40) is "Ni" or "Nr" by who sent
 * it (see payloadName); every other type has one name.
 */
export const PAYLOAD_NAMES: Readonly<Record<number, string>> = {
  33: "SA",
  34: "KE",
  35: "IDi",
  36: "IDr",
  37: "CERT",
  38: "CERTREQ",
  39: "AUTH",
  40: "Ni",
  41: "N",
  42: "D",
  43: "V",
  44: "TSi",
  45: "TSr",
  46: "SK",
  47: "CP",
  48: "EAP",
  53: "SKF",
};

// ---- §3.3 Security Association payload ----
export const PROPOSAL_HDR_LEN = 8;
export const TRANSFORM_HDR_LEN = 8;
/** §3.3.1 "Last Substruc": 0 = last proposal, 2 = more follow; §3.3.2: 0 = last transform, 3 = more. */
export const LAST_SUBSTRUC_LAST = 0;
export const LAST_SUBSTRUC_MORE_PROPOSALS = 2;
export const LAST_SUBSTRUC_MORE_TRANSFORMS = 3;

/** §3.3.1 Protocol ID. */
export const PROTO_IKE = 1;
export const PROTO_AH = 2;
export const PROTO_ESP = 3;
export const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: "IKE", 2: "AH", 3: "ESP" };

/** §3.3.2 Transform Type. */
export const TRANSFORM_ENCR = 1;
export const TRANSFORM_PRF = 2;
export const TRANSFORM_INTEG = 3;
export const TRANSFORM_KE = 4; // "D-H" in RFC 7296, "Key Exchange Method" since RFC 9370
export const TRANSFORM_ESN = 5;
export const TRANSFORM_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "ENCR",
  2: "PRF",
  3: "INTEG",
  4: "KE",
  5: "ESN",
};

/** Transform Type 1: encryption algorithms (IANA; RFC 5282 for GCM/CCM, RFC 7634 for ChaCha). */
export const ENCR_DES_IV64 = 1;
export const ENCR_DES = 2;
export const ENCR_3DES = 3;
export const ENCR_NULL = 11;
export const ENCR_AES_CBC = 12;
export const ENCR_AES_CTR = 13;
export const ENCR_AES_CCM_8 = 14;
export const ENCR_AES_CCM_12 = 15;
export const ENCR_AES_CCM_16 = 16;
export const ENCR_AES_GCM_8 = 18;
export const ENCR_AES_GCM_12 = 19;
export const ENCR_AES_GCM_16 = 20;
export const ENCR_NULL_AUTH_AES_GMAC = 21;
export const ENCR_CAMELLIA_CBC = 23;
export const ENCR_CHACHA20_POLY1305 = 28;
export const ENCR_NAMES: Readonly<Record<number, string>> = {
  1: "ENCR_DES_IV64",
  2: "ENCR_DES",
  3: "ENCR_3DES",
  4: "ENCR_RC5",
  5: "ENCR_IDEA",
  6: "ENCR_CAST",
  7: "ENCR_BLOWFISH",
  8: "ENCR_3IDEA",
  9: "ENCR_DES_IV32",
  11: "ENCR_NULL",
  12: "ENCR_AES_CBC",
  13: "ENCR_AES_CTR",
  14: "ENCR_AES_CCM_8",
  15: "ENCR_AES_CCM_12",
  16: "ENCR_AES_CCM_16",
  18: "ENCR_AES_GCM_8",
  19: "ENCR_AES_GCM_12",
  20: "ENCR_AES_GCM_16",
  21: "ENCR_NULL_AUTH_AES_GMAC",
  23: "ENCR_CAMELLIA_CBC",
  24: "ENCR_CAMELLIA_CTR",
  25: "ENCR_CAMELLIA_CCM_8",
  26: "ENCR_CAMELLIA_CCM_12",
  27: "ENCR_CAMELLIA_CCM_16",
  28: "ENCR_CHACHA20_POLY1305",
};

/** Transform Type 2: pseudorandom functions (RFC 7296 §3.3.2, RFC 4868 for SHA-2). */
export const PRF_HMAC_MD5 = 1;
export const PRF_HMAC_SHA1 = 2;
export const PRF_AES128_XCBC = 4;
export const PRF_HMAC_SHA2_256 = 5;
export const PRF_HMAC_SHA2_384 = 6;
export const PRF_HMAC_SHA2_512 = 7;
export const PRF_AES128_CMAC = 8;
export const PRF_NAMES: Readonly<Record<number, string>> = {
  1: "PRF_HMAC_MD5",
  2: "PRF_HMAC_SHA1",
  3: "PRF_HMAC_TIGER",
  4: "PRF_AES128_XCBC",
  5: "PRF_HMAC_SHA2_256",
  6: "PRF_HMAC_SHA2_384",
  7: "PRF_HMAC_SHA2_512",
  8: "PRF_AES128_CMAC",
};

/** Transform Type 3: integrity algorithms (RFC 7296 §3.3.2, RFC 4868 for SHA-2). */
export const AUTH_NONE = 0;
export const AUTH_HMAC_MD5_96 = 1;
export const AUTH_HMAC_SHA1_96 = 2;
export const AUTH_AES_XCBC_96 = 5;
export const AUTH_HMAC_SHA2_256_128 = 12;
export const AUTH_HMAC_SHA2_384_192 = 13;
export const AUTH_HMAC_SHA2_512_256 = 14;
export const INTEG_NAMES: Readonly<Record<number, string>> = {
  0: "NONE",
  1: "AUTH_HMAC_MD5_96",
  2: "AUTH_HMAC_SHA1_96",
  3: "AUTH_DES_MAC",
  4: "AUTH_KPDK_MD5",
  5: "AUTH_AES_XCBC_96",
  6: "AUTH_HMAC_MD5_128",
  7: "AUTH_HMAC_SHA1_160",
  8: "AUTH_AES_CMAC_96",
  9: "AUTH_AES_128_GMAC",
  10: "AUTH_AES_192_GMAC",
  11: "AUTH_AES_256_GMAC",
  12: "AUTH_HMAC_SHA2_256_128",
  13: "AUTH_HMAC_SHA2_384_192",
  14: "AUTH_HMAC_SHA2_512_256",
};

/** Transform Type 4: Diffie-Hellman groups / key exchange methods (RFC 7296, 5903, 8031). */
export const DH_MODP_2048 = 14;
export const DH_MODP_3072 = 15;
export const DH_MODP_4096 = 16;
export const DH_ECP_256 = 19;
export const DH_ECP_384 = 20;
export const DH_ECP_521 = 21;
export const DH_CURVE25519 = 31;
export const DH_CURVE448 = 32;
export const DH_NAMES: Readonly<Record<number, string>> = {
  0: "NONE",
  1: "MODP_768",
  2: "MODP_1024",
  5: "MODP_1536",
  14: "MODP_2048",
  15: "MODP_3072",
  16: "MODP_4096",
  17: "MODP_6144",
  18: "MODP_8192",
  19: "ECP_256",
  20: "ECP_384",
  21: "ECP_521",
  22: "MODP_1024_160",
  23: "MODP_2048_224",
  24: "MODP_2048_256",
  25: "ECP_192",
  26: "ECP_224",
  27: "BRAINPOOL_P224",
  28: "BRAINPOOL_P256",
  29: "BRAINPOOL_P384",
  30: "BRAINPOOL_P512",
  31: "CURVE25519",
  32: "CURVE448",
};

/** Transform Type 5: Extended Sequence Numbers. */
export const ESN_NO = 0;
export const ESN_YES = 1;
export const ESN_NAMES: Readonly<Record<number, string>> = { 0: "NO_ESN", 1: "ESN" };

/** §3.3.5 Transform Attributes: AF bit = TV format; type 14 = Key Length (in bits). */
export const ATTR_FORMAT_TV = 0x8000;
export const ATTR_KEY_LENGTH = 14;
export const ATTR_NAMES: Readonly<Record<number, string>> = { 14: "Key Length" };

// ---- §3.5 Identification payloads ----
export const ID_IPV4_ADDR = 1;
export const ID_FQDN = 2;
export const ID_RFC822_ADDR = 3;
export const ID_IPV6_ADDR = 5;
export const ID_DER_ASN1_DN = 9;
export const ID_DER_ASN1_GN = 10;
export const ID_KEY_ID = 11;
export const ID_FC_NAME = 12; // RFC 4595
export const ID_NULL = 13; // RFC 7619
export const ID_NAMES: Readonly<Record<number, string>> = {
  1: "ID_IPV4_ADDR",
  2: "ID_FQDN",
  3: "ID_RFC822_ADDR",
  5: "ID_IPV6_ADDR",
  9: "ID_DER_ASN1_DN",
  10: "ID_DER_ASN1_GN",
  11: "ID_KEY_ID",
  12: "ID_FC_NAME",
  13: "ID_NULL",
};

// ---- §3.6 Certificate encodings (CERT and CERTREQ) ----
export const CERT_X509_SIGNATURE = 4;
export const CERT_NAMES: Readonly<Record<number, string>> = {
  1: "PKCS #7 wrapped X.509 certificate",
  2: "PGP Certificate",
  3: "DNS Signed Key",
  4: "X.509 Certificate - Signature",
  6: "Kerberos Token",
  7: "Certificate Revocation List (CRL)",
  8: "Authority Revocation List (ARL)",
  9: "SPKI Certificate",
  10: "X.509 Certificate - Attribute",
  11: "Raw RSA Key",
  12: "Hash and URL of X.509 certificate",
  13: "Hash and URL of X.509 bundle",
  14: "OCSP Content", // RFC 4806
  15: "Raw Public Key", // RFC 7670
};

// ---- §3.8 Authentication methods ----
export const AUTH_RSA_SIG = 1;
export const AUTH_SHARED_KEY_MIC = 2;
export const AUTH_DSS_SIG = 3;
export const AUTH_DIGITAL_SIGNATURE = 14; // RFC 7427
export const AUTH_METHOD_NAMES: Readonly<Record<number, string>> = {
  1: "RSA Digital Signature",
  2: "Shared Key Message Integrity Code",
  3: "DSS Digital Signature",
  9: "ECDSA with SHA-256 on the P-256 curve", // RFC 4754
  10: "ECDSA with SHA-384 on the P-384 curve",
  11: "ECDSA with SHA-512 on the P-521 curve",
  12: "Generic Secure Password Authentication Method", // RFC 6467
  13: "NULL Authentication", // RFC 7619
  14: "Digital Signature", // RFC 7427
};

// ---- §3.10.1 Notify Message Types ----
/** Types below 16384 are errors, 16384 and above are status (§3.10.1). */
export const NOTIFY_STATUS_MIN = 16384;
export const N_UNSUPPORTED_CRITICAL_PAYLOAD = 1;
export const N_INVALID_IKE_SPI = 4;
export const N_INVALID_MAJOR_VERSION = 5;
export const N_INVALID_SYNTAX = 7;
export const N_INVALID_MESSAGE_ID = 9;
export const N_INVALID_SPI = 11;
export const N_NO_PROPOSAL_CHOSEN = 14;
export const N_INVALID_KE_PAYLOAD = 17;
export const N_AUTHENTICATION_FAILED = 24;
export const N_TS_UNACCEPTABLE = 38;
export const N_INITIAL_CONTACT = 16384;
export const N_NAT_DETECTION_SOURCE_IP = 16388;
export const N_NAT_DETECTION_DESTINATION_IP = 16389;
export const N_COOKIE = 16390;
export const N_USE_TRANSPORT_MODE = 16391;
export const N_REKEY_SA = 16393;
export const N_IKEV2_FRAGMENTATION_SUPPORTED = 16430;
export const N_SIGNATURE_HASH_ALGORITHMS = 16431;
export const NOTIFY_NAMES: Readonly<Record<number, string>> = {
  1: "UNSUPPORTED_CRITICAL_PAYLOAD",
  4: "INVALID_IKE_SPI",
  5: "INVALID_MAJOR_VERSION",
  7: "INVALID_SYNTAX",
  9: "INVALID_MESSAGE_ID",
  11: "INVALID_SPI",
  14: "NO_PROPOSAL_CHOSEN",
  17: "INVALID_KE_PAYLOAD",
  24: "AUTHENTICATION_FAILED",
  34: "SINGLE_PAIR_REQUIRED",
  35: "NO_ADDITIONAL_SAS",
  36: "INTERNAL_ADDRESS_FAILURE",
  37: "FAILED_CP_REQUIRED",
  38: "TS_UNACCEPTABLE",
  39: "INVALID_SELECTORS",
  40: "UNACCEPTABLE_ADDRESSES", // RFC 4555
  41: "UNEXPECTED_NAT_DETECTED", // RFC 4555
  42: "USE_ASSIGNED_HoA", // RFC 5026
  43: "TEMPORARY_FAILURE",
  44: "CHILD_SA_NOT_FOUND",
  16384: "INITIAL_CONTACT",
  16385: "SET_WINDOW_SIZE",
  16386: "ADDITIONAL_TS_POSSIBLE",
  16387: "IPCOMP_SUPPORTED",
  16388: "NAT_DETECTION_SOURCE_IP",
  16389: "NAT_DETECTION_DESTINATION_IP",
  16390: "COOKIE",
  16391: "USE_TRANSPORT_MODE",
  16392: "HTTP_CERT_LOOKUP_SUPPORTED",
  16393: "REKEY_SA",
  16394: "ESP_TFC_PADDING_NOT_SUPPORTED",
  16395: "NON_FIRST_FRAGMENTS_ALSO",
  16396: "MOBIKE_SUPPORTED", // RFC 4555
  16397: "ADDITIONAL_IP4_ADDRESS",
  16398: "ADDITIONAL_IP6_ADDRESS",
  16399: "NO_ADDITIONAL_ADDRESSES",
  16400: "UPDATE_SA_ADDRESSES",
  16401: "COOKIE2",
  16402: "NO_NATS_ALLOWED",
  16403: "AUTH_LIFETIME", // RFC 4478
  16404: "MULTIPLE_AUTH_SUPPORTED", // RFC 4739
  16405: "ANOTHER_AUTH_FOLLOWS",
  16406: "REDIRECT_SUPPORTED", // RFC 5685
  16407: "REDIRECT",
  16408: "REDIRECTED_FROM",
  16417: "EAP_ONLY_AUTHENTICATION", // RFC 5998
  16418: "CHILDLESS_IKEV2_SUPPORTED", // RFC 6023
  16419: "QUICK_CRASH_DETECTION", // RFC 6290
  16430: "IKEV2_FRAGMENTATION_SUPPORTED", // RFC 7383
  16431: "SIGNATURE_HASH_ALGORITHMS", // RFC 7427
};

// ---- §3.13.1 Traffic Selectors ----
export const TS_IPV4_ADDR_RANGE = 7;
export const TS_IPV6_ADDR_RANGE = 8;
export const TS_NAMES: Readonly<Record<number, string>> = {
  7: "TS_IPV4_ADDR_RANGE",
  8: "TS_IPV6_ADDR_RANGE",
  9: "TS_FC_ADDR_RANGE",
  10: "TS_SECLABEL",
};
/** Selector Length: 8 + 2 × 4 for IPv4, 8 + 2 × 16 for IPv6. */
export const TS_IPV4_LEN = 16;
export const TS_IPV6_LEN = 40;

// ---- §3.15 Configuration payload ----
export const CFG_REQUEST = 1;
export const CFG_REPLY = 2;
export const CFG_SET = 3;
export const CFG_ACK = 4;
export const CFG_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "CFG_REQUEST",
  2: "CFG_REPLY",
  3: "CFG_SET",
  4: "CFG_ACK",
};
export const CFG_ATTR_NAMES: Readonly<Record<number, string>> = {
  1: "INTERNAL_IP4_ADDRESS",
  2: "INTERNAL_IP4_NETMASK",
  3: "INTERNAL_IP4_DNS",
  4: "INTERNAL_IP4_NBNS",
  6: "INTERNAL_IP4_DHCP",
  7: "APPLICATION_VERSION",
  8: "INTERNAL_IP6_ADDRESS",
  10: "INTERNAL_IP6_DNS",
  12: "INTERNAL_IP6_DHCP",
  13: "INTERNAL_IP4_SUBNET",
  14: "SUPPORTED_ATTRIBUTES",
  15: "INTERNAL_IP6_SUBNET",
};

// ---- §3.14 Encrypted payload, RFC 5282 §3 and RFC 7634 §3 (AEAD) ----
/** AES-CBC IV = one block (RFC 3602 as used by §3.14). */
export const CBC_IV_LEN = 16;
export const AES_BLOCK_LEN = 16;
/** RFC 5282 §3 / RFC 7634 §3: 8-byte explicit IV; nonce = 4-byte salt ‖ IV. */
export const AEAD_IV_LEN = 8;
export const AEAD_SALT_LEN = 4;
/** RFC 7383 §2.5: the Encrypted Fragment payload adds Fragment Number and Total Fragments. */
export const SKF_HDR_LEN = 8;
