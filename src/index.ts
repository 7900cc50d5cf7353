// Node entry point (ESM and CJS): the shared API, with node:crypto available to the
// "node" AES-GCM engine.
import { nodeKeystreamProvider } from "./core/node-keystream.js";
import { setKeystreamProvider } from "./core/keystream.js";

setKeystreamProvider(nodeKeystreamProvider);

export * from "./api.js";
