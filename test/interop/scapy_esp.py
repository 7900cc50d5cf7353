#!/usr/bin/python3
"""
The scapy side of test/esp.interop.test.ts: an independent ESP (RFC 4303, RFC 4106 AES-GCM,
RFC 7634 ChaCha20-Poly1305, RFC 4543 AES-GMAC, RFC 3948 UDP encapsulation) in transport
mode over IPv4, carrying IPv6 (protocol 41, RFC 4891).

Algorithms ("algo" in seal/open requests):
  "aes-gcm" (default)    scapy's 'AES-GCM' (ICV 16) or 'AES-GCM-TRUNCATED' below (ICV 8, 12)
  "chacha20-poly1305"    scapy's own 'CHACHA20-POLY1305' (scapy 2.5, on cryptography's
                         ChaCha20Poly1305): nonce = salt ‖ IV, AAD = SPI ‖ seq (‖ ESN)
  "aes-gmac"             scapy 2.5 has no ENCR_NULL_AUTH_AES_GMAC; 'AES-GMAC' below is
                         scapy's CryptAlgo (framing, padding, IV, SA, NAT-T, ESN are scapy's)
                         with encrypt/decrypt replaced by RFC 4543 §3.3 over cryptography's
                         AESGCM: tag = GCM(key, salt ‖ IV, AAD = SPI ‖ seq (‖ ESN) ‖ IV ‖
                         payload ‖ padding ‖ pad length ‖ next header, plaintext empty)

Protocol: one JSON request per line on stdin, one JSON response per line on stdout, in order.
Bytes travel as lowercase hex. Requests ({"op": ...}):

  inner  {"packets": [{"kind": "icmp"|"udp", "size": n, "seed": s}, ...]}
         -> {"packets": [hex of a scapy-built IPv6 packet, ...]}
  seal   {"spi", "keymat", "icv", "esn_en", "encap", "src", "dst", "algo",
          "packets": [{"inner": hex, "seq": low32, "esn": high32}, ...]}
         -> {"packets": [hex of IPv4 | (UDP 4500 |) ESP, ...]}   (scapy SecurityAssociation.encrypt)
  open   {"spi", "keymat", "icv", "esn_en", "algo", "packets": [{"outer": hex, "esn": high32}, ...]}
         -> {"packets": [{"ok": true, "inner": hex, "proto": n, "spi": n, "seq": n, "udp": bool,
                          "summary": str} | {"ok": false, "error": str}, ...]}
  quit   -> exits

Every response carries "scapy": the scapy version. An exception in a request is reported as
{"error": "..."} and the process keeps going.
"""
import json
import random
import sys
import traceback
import warnings

warnings.filterwarnings("ignore")

import scapy  # noqa: E402
from scapy.config import conf  # noqa: E402

conf.verb = 0
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest, UDP as UDP6  # noqa: E402,F401
from scapy.layers.ipsec import ESP, SecurityAssociation, IPSecIntegrityError, CryptAlgo, CRYPT_ALGOS, _ESPPlain  # noqa: E402
from cryptography.exceptions import InvalidTag  # noqa: E402
from cryptography.hazmat.primitives.ciphers import algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
import struct  # noqa: E402
from scapy.packet import Raw  # noqa: E402

INNER_SRC = "2001:db8:1::1"
INNER_DST = "2001:db8:2::1"


# scapy 2.5's 'AES-GCM' is built on cryptography's AESGCM, whose tag is always 16 bytes: it
# ignores crypt_icv_size (it seals 16-byte ICVs and opens only those; secdev/scapy#4903). For the 8- and 12-byte
# ICVs of RFC 4106 we register the same algorithm the way scapy itself defined it before 2.4.3,
# on cryptography's GCM mode, which scapy's CryptAlgo drives with truncated tags
# (encryptor.tag[:icv_size] to seal, GCM(iv, tag, min_tag_length=len(tag)) to open). ESP
# framing, padding, AAD (with or without ESN) and nonce are still scapy's own code.
CRYPT_ALGOS["AES-GCM-TRUNCATED"] = CryptAlgo(
    "AES-GCM",
    cipher=algorithms.AES,
    mode=modes.GCM,
    key_size=(16, 24, 32),
    salt_size=4,
    block_size=1,
    iv_size=8,
    icv_size=16,
    format_mode_iv=lambda sa, iv, **kw: sa.crypt_salt + iv,
)


class NullAuthAesGmac(CryptAlgo):
    """ENCR_NULL_AUTH_AES_GMAC (RFC 4543): the payload stays in the clear, GMAC over all of it."""

    @staticmethod
    def _aad(esp, iv, data, esn_en, esn):
        # RFC 4543 §3.3, Figures 3 and 4: SPI ‖ seq (or SPI ‖ seq-high ‖ seq-low) ‖ IV ‖ payload ‖ trailer
        seq = struct.pack("!LLL", esp.spi, esn, esp.seq) if esn_en else struct.pack("!LL", esp.spi, esp.seq)
        return seq + iv + data

    def encrypt(self, sa, esp, key, icv_size=None, esn_en=False, esn=0):
        data = esp.data_for_encryption()
        tag = AESGCM(key).encrypt(sa.crypt_salt + esp.iv, b"", self._aad(esp, esp.iv, data, esn_en, esn))
        return ESP(spi=esp.spi, seq=esp.seq, data=esp.iv + data + tag)

    def decrypt(self, sa, esp, key, icv_size=None, esn_en=False, esn=0):
        iv = esp.data[:self.iv_size]
        data = esp.data[self.iv_size:len(esp.data) - 16]
        icv = esp.data[len(esp.data) - 16:]
        try:
            AESGCM(key).decrypt(sa.crypt_salt + iv, icv, self._aad(esp, iv, data, esn_en, esn))
        except InvalidTag as err:
            raise IPSecIntegrityError(err)
        padlen = data[-2]
        return _ESPPlain(spi=esp.spi, seq=esp.seq, iv=iv, data=data[:len(data) - padlen - 2],
                         padding=data[len(data) - padlen - 2:len(data) - 2], padlen=padlen, nh=data[-1], icv=icv)


CRYPT_ALGOS["AES-GMAC"] = NullAuthAesGmac(
    "AES-GMAC",
    cipher=algorithms.AES,
    mode=modes.GCM,
    key_size=(16, 24, 32),
    salt_size=4,
    block_size=1,
    iv_size=8,
    icv_size=16,
)


def crypt_algo(req):
    algo = req.get("algo", "aes-gcm")
    if algo == "chacha20-poly1305":
        return "CHACHA20-POLY1305"
    if algo == "aes-gmac":
        return "AES-GMAC"
    if algo != "aes-gcm":
        raise ValueError("unknown algo " + algo)
    return "AES-GCM" if req.get("icv", 16) == 16 else "AES-GCM-TRUNCATED"


def make_sa(req):
    icv = req.get("icv", 16)
    encap = req.get("encap", False)
    return SecurityAssociation(
        ESP,
        spi=req["spi"],
        crypt_algo=crypt_algo(req),
        crypt_key=bytes.fromhex(req["keymat"]),
        crypt_icv_size=icv,
        esn_en=bool(req.get("esn_en", False)),
        esn=0,
        nat_t_header=UDP(sport=4500, dport=4500) if encap else None,
    )


def op_inner(req):
    out = []
    for p in req["packets"]:
        rnd = random.Random(p.get("seed", 0))
        data = bytes(rnd.getrandbits(8) for _ in range(p["size"]))
        if p["kind"] == "icmp":
            pkt = IPv6(src=INNER_SRC, dst=INNER_DST, hlim=64) / ICMPv6EchoRequest(id=rnd.getrandbits(16), seq=rnd.getrandbits(16), data=data)
        else:
            pkt = IPv6(src=INNER_SRC, dst=INNER_DST, hlim=64) / UDP(sport=rnd.randint(1024, 65535), dport=rnd.randint(1, 65535)) / Raw(data)
        out.append(bytes(pkt).hex())
    return {"packets": out}


def op_seal(req):
    sa = make_sa(req)
    out = []
    for p in req["packets"]:
        inner = IPv6(bytes.fromhex(p["inner"]))
        outer = IP(src=req.get("src", "192.0.2.1"), dst=req.get("dst", "192.0.2.2"), proto=41) / inner
        # Set the counter on the SA rather than passing seq_num/esn: scapy treats 0 as "unset".
        sa.seq_num = p["seq"]
        sa.esn = p.get("esn", 0)
        sealed = bytearray(bytes(sa.encrypt(outer)))
        if sa.nat_t_header is not None:
            # scapy 2.5 writes the NAT-T UDP length before adding the ESP packet, so it says 8
            # (secdev/scapy#4125, fixed after 2.5). Correct it; the checksum stays 0.
            ihl = (sealed[0] & 15) * 4
            udp_len = len(sealed) - ihl
            if sealed[ihl + 4:ihl + 6] == b"\x00\x08" and udp_len != 8:
                sealed[ihl + 4:ihl + 6] = udp_len.to_bytes(2, "big")
        out.append(bytes(sealed).hex())
    return {"packets": out}


def op_open(req):
    sa = make_sa(req)
    out = []
    for p in req["packets"]:
        pkt = IP(bytes.fromhex(p["outer"]))
        try:
            if ESP not in pkt:
                raise ValueError("no ESP layer: " + pkt.summary())
            esp = pkt[ESP]
            spi, seq, udp = esp.spi, esp.seq, UDP in pkt
            sa.esn = p.get("esn", 0)
            dec = sa.decrypt(pkt)
            payload = dec[IP].payload
            out.append({"ok": True, "inner": bytes(payload).hex(), "proto": dec[IP].proto, "spi": spi, "seq": seq, "udp": udp, "summary": payload.summary()})
        except IPSecIntegrityError as e:
            out.append({"ok": False, "error": "IPSecIntegrityError: %s" % e})
        except Exception as e:  # noqa: BLE001
            out.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    return {"packets": out}


OPS = {"inner": op_inner, "seal": op_seal, "open": op_open}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "quit":
                break
            res = OPS[req["op"]](req)
        except Exception as e:  # noqa: BLE001
            res = {"error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
        res["scapy"] = scapy.VERSION
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
