// The packet decoder: one core for the CLI (src/cli-decode.ts) and the browser page.
// No Node imports anywhere under src/decode/.
export { createDecoder, decodeCapture, Decoder, type DecodeOptions, type DecodedPacket, type DecoderStats, type TunnelSpec, type Verdict } from "./decoder.js";
export { readCapture, captureFormat, writePcap, writePcapng, CaptureError, type CaptureFrame, type CaptureFormat } from "./pcap.js";
export { fieldSpans, type Layer, type FieldValue, type Span } from "./layers.js";
export { KeyStore, parseEspSaFile, parseSaSpec, type EspKey, type KeyWarning } from "./keys.js";
export { registerIkeCodec, type IkeCodec } from "./ikev2.js";
export { summarize, summaryColumns, packetJson, type JsonOptions, type SummaryColumns } from "./summary.js";
export { encapCapture, type EncapOptions, type EncapResult } from "./encap.js";
export { DecodeError, type DecodeErrorCode } from "./errors.js";
export * from "./linktypes.js";
