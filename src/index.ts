// Node entry point (ESM and CJS): the shared API, with node:crypto available to the
// "node" AES-GCM engine.
import { nodeKeystreamProvider } from "./core/node-keystream.js";
import { setKeystreamProvider } from "./core/keystream.js";

setKeystreamProvider(nodeKeystreamProvider);

export * from "./api.js";

// Node only: the IKEv2 endpoint (node:crypto for Diffie-Hellman and the PRFs) and the UDP transport.
export { IkeEndpoint, type IkeEndpointOptions, type IkeEvent, type IkeSaInfo, type ChildSaInfo, type UdpAddress } from "./ike/endpoint.js";
export { UdpNode, type UdpNodeOptions, type UdpNodeStats } from "./node/udp.js";
export { echoReply, echoRequest } from "./icmpv6-echo.js";
export { ShardedDataplane, createShardedDataplane, reusePortAvailable } from "./node/workers.js";
