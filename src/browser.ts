// Browser entry point: the shared API, pure WebAssembly (no node: imports, no fs).
export * from "./api.js";
