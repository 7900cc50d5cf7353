/**
 * Errors of the IKEv2 codec: IpsecError with IKE codes (until the lead adds them to the
 * ErrorCode union they are cast), plus the Notify type RFC 7296 says to answer with.
 */
import { IpsecError, type ErrorCode } from "../errors.js";

export type IkeErrorCode =
  /** The bytes break a length or value rule of RFC 7296 §3 (answer INVALID_SYNTAX, §2.21). */
  | "ERR_IKE_MALFORMED"
  /** Something claims to extend past the end of the message or the buffer. */
  | "ERR_IKE_TRUNCATED"
  /** Bytes left over: buffer longer than the header's Length, or after the last payload. */
  | "ERR_IKE_TRAILING"
  /** Major version is not 2 (§3.1; answer INVALID_MAJOR_VERSION). */
  | "ERR_IKE_VERSION"
  /** An unknown payload type with the critical bit set (§2.5: UNSUPPORTED_CRITICAL_PAYLOAD). */
  | "ERR_IKE_CRITICAL"
  /** The ICV of an Encrypted payload does not verify. */
  | "ERR_IKE_INTEGRITY"
  /** The decrypted Pad Length does not fit, or the ciphertext is not whole blocks (§3.14). */
  | "ERR_IKE_PADDING"
  /** A transform or key that this implementation does not do, or keys of the wrong length. */
  | "ERR_IKE_ALGORITHM"
  /** A line of a Wireshark ikev2_decryption_table that cannot be used. */
  | "ERR_IKE_KEYFILE";

export class IkeError extends IpsecError {
  /** The Notify Message Type RFC 7296 prescribes in answer, when there is one. */
  readonly notifyType?: number;
  /** Notification data for that Notify (e.g. the one-octet payload type for UNSUPPORTED_CRITICAL_PAYLOAD). */
  readonly notifyData?: Uint8Array;
  /** Byte offset in the message where the problem was found, when known. */
  readonly offset?: number;
  /**
   * True when the problem lies in bytes whose ICV verified (the decrypted content of SK/SKF).
   * Only then may a receiver act on it inside an IKE_SA — answer it, consume its message ID
   * (RFC 7296 §2.21.2); anything else in an IKE_SA's message is unauthenticated and dropped.
   */
  readonly authenticated?: boolean;
  constructor(code: IkeErrorCode | ErrorCode, message: string, extra: { notifyType?: number; notifyData?: Uint8Array; offset?: number; authenticated?: boolean } = {}) {
    super(code as ErrorCode, message);
    this.name = "IpsecError";
    if (extra.notifyType !== undefined) this.notifyType = extra.notifyType;
    if (extra.notifyData !== undefined) this.notifyData = extra.notifyData;
    if (extra.offset !== undefined) this.offset = extra.offset;
    if (extra.authenticated) this.authenticated = true;
  }
}

/** Rethrow an error found inside a verified SK payload, marked `authenticated`. */
export function authenticatedError(e: unknown): never {
  if (!(e instanceof IkeError)) throw e;
  throw new IkeError(e.code, e.message, { notifyType: e.notifyType, notifyData: e.notifyData, offset: e.offset, authenticated: true });
}

/** RFC 7296 §2.21: a malformed message is answered with INVALID_SYNTAX (7). */
export function malformed(message: string, offset?: number): never {
  throw new IkeError("ERR_IKE_MALFORMED", message, { notifyType: 7, offset });
}

export function truncated(message: string, offset?: number): never {
  throw new IkeError("ERR_IKE_TRUNCATED", message, { notifyType: 7, offset });
}
