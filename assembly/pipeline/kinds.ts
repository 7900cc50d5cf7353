// What the pipelines did with a packet (written into the descriptor's E_KIND), besides
// dropping it (E_RESULT < 0, with its Drop reason).
/** Inbound: an inner IPv6 packet to deliver on the tunnel interface (at E_OUT_OFF). */
export const K_DELIVER: i32 = 1;
/** Outbound: an outer IPv4 packet to send (at E_OUT_OFF). */
export const K_SEND: i32 = 2;
/** Outbound: an ICMPv6 Packet Too Big to deliver back to the inner sender (at E_OUT_OFF). */
export const K_PTB: i32 = 3;
/** Inbound: an IKE message for the control plane (UDP 500, or 4500 after the non-ESP marker). */
export const K_IKE: i32 = 4;
/** Inbound: a NAT-keepalive (RFC 3948 §2.3), consumed. */
export const K_KEEPALIVE: i32 = 5;
/** Inbound: an outer IPv4 fragment, for reassembly before it comes back. */
export const K_FRAGMENT: i32 = 6;
/** Inbound: an IPv4 packet that is not tunnel traffic (for the host's own stack). */
export const K_OTHER: i32 = 7;
