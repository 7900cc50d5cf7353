#!/usr/bin/env node
/**
 * ipsec6in4 command line. Commands grow with the project; unknown commands and options are
 * refused with a named error and exit status 2 (usage), never ignored.
 */
import { nodeKeystreamProvider } from "./core/node-keystream.js";
import { setKeystreamProvider } from "./core/keystream.js";
import { demo } from "./demo.js";
import { tunnelDemo } from "./demo-tunnel.js";
import { configCommand } from "./cli-config.js";
import { decodeCommand, encapCommand } from "./cli-decode.js";
import { upCommand, statusCommand, downCommand } from "./cli-daemon.js";
import { IpsecError } from "./errors.js";

const USAGE = `usage: ipsec6in4 <command> [options]

commands:
  demo [--packets N]   the main job (npm start): two RFC 4891 routers on loopback, keyed by
                       IKEv2, IPv6 both ways through ESP over UDP, attacks refused, a rekey
                       under traffic, a summary
  aead-demo [--packets N]
                       seal and open ESP-style packets with AES-GCM in WebAssembly in one
                       batch call, show a forgery being refused, compare the engines
  up <config> [options]
                       run an RFC 4891 endpoint: TUN devices for the tunnels, IKEv2, the
                       ESP dataplane (UDP-encapsulated, or raw ESP with the native addon);
                       logs on stderr; SIGINT/SIGTERM delete the SAs and remove the devices
  status [--json]      IKE_SAs and CHILD_SAs of the running endpoint, with counters and drops
  down                 stop the running endpoint
  web [--port N] [--host A]
                       serve the packet decoder page on localhost (nothing is uploaded)
  config <file> [--json]
                       check a swanctl.conf (or its JSON form) with a tunnels section
                       and print its tunnels, SPD (as RFC 4891 prints it) and PAD
  decode <capture> [--esp-sa FILE] [--ikev2-keys FILE] [--sa SPEC]... [--tunnel SPEC] [--json]
                       decode a pcap/pcapng capture: IPv4, UDP, ESP (decrypted with
                       Wireshark's esp_sa file or strongSwan-style --sa specs), IPv6, IKEv2;
                       with --tunnel, what an RFC 4891 endpoint would say of each packet
  encap --sa SPEC --tunnel local=A,remote=B [--udp] <in.pcap> <out.pcap>
                       protect the IPv6 packets of a capture as an RFC 4891 endpoint would
  help                 this text
  version              the package version
`;

setKeystreamProvider(nodeKeystreamProvider);

declare const __VERSION__: string | undefined;

export async function main(argv: string[]): Promise<number> {
  const [cmd = "help", ...rest] = argv;
  try {
    switch (cmd) {
      case "demo":
        return await tunnelDemo(rest, (s) => process.stdout.write(s));
      case "aead-demo":
        return await demo(rest, (s) => process.stdout.write(s));
      case "decode":
        return await decodeCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      case "encap":
        return await encapCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      case "up":
        return await upCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      case "status":
        return await statusCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      case "down":
        return await downCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      case "web": {
        const { webCommand } = await import("./cli-web.js");
        return await webCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      }
      case "config":
        return await configCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return 0;
      case "version":
      case "--version":
        process.stdout.write(`${typeof __VERSION__ === "string" ? __VERSION__ : "dev"}\n`);
        return 0;
      default:
        process.stderr.write(`ipsec6in4: unknown command '${cmd}'\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof IpsecError) {
      process.stderr.write(`ipsec6in4: ${e.code}: ${e.message}\n`);
      return e.code === "ERR_USAGE" ? 2 : 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`ipsec6in4: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  },
);
