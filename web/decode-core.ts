// What the page's worker uses of the decode core (src/decode: no Node imports).
export * from "../src/decode/index.js";
export { ikeCodec } from "../src/decode/ikev2.js";
