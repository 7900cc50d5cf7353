/**
 * Errors of the decoder. They are IpsecErrors (so `catch (e) { e.code }` works as everywhere
 * in ipsec6in4) with codes of their own, which src/errors.ts's ErrorCode does not list yet:
 *
 *   ERR_CAPTURE  the capture file is not pcap/pcapng or is cut short
 *   ERR_KEYS     a key file line or an --sa / --tunnel specification is wrong (names file:line)
 *   ERR_USAGE    bad command-line arguments (exit status 2)
 */
import { IpsecError, type ErrorCode } from "../errors.js";

export type DecodeErrorCode = "ERR_CAPTURE" | "ERR_KEYS" | "ERR_USAGE";

export class DecodeError extends IpsecError {
  constructor(code: DecodeErrorCode, message: string) {
    super(code as unknown as ErrorCode, message);
    this.name = "DecodeError";
  }
}
