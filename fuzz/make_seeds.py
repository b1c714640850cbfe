#!/usr/bin/python3
"""Writes the seed corpus of the `ingress` fuzz target: real frames an
interface meets (ARP, ICMP echo, a TCP handshake and an HTTP request, UDP
datagrams, a raw frame of the harness's EtherType), addressed to the
harness stack (02:00:c6:12:00:02, 198.18.0.2), in the target's input format:
frames, each a 2-byte big-endian length and its bytes.

    /usr/bin/python3 fuzz/make_seeds.py fuzz/seeds/ingress
"""
import os
import struct
import sys

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, raw

STACK_MAC, PEER_MAC = "02:00:c6:12:00:02", "02:00:c6:12:00:01"
STACK_IP, PEER_IP = "198.18.0.2", "198.18.0.1"


def eth(payload, dst=STACK_MAC, etype=None):
    e = Ether(dst=dst, src=PEER_MAC) if etype is None else Ether(dst=dst, src=PEER_MAC, type=etype)
    return raw(e / payload)


def seq(*frames):
    return b"".join(struct.pack(">H", len(f)) + f for f in frames)


ip = IP(src=PEER_IP, dst=STACK_IP)
seeds = {
    "arp-request": seq(eth(ARP(op=1, hwsrc=PEER_MAC, psrc=PEER_IP, pdst=STACK_IP), dst="ff:ff:ff:ff:ff:ff")),
    "icmp-echo": seq(eth(ip / ICMP(type=8, id=1, seq=1) / Raw(b"x" * 56))),
    "tcp-handshake-http": seq(
        eth(ip / TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1460), ("WScale", 7)])),
        eth(ip / TCP(sport=40000, dport=80, flags="A", seq=1001, ack=1)),
        eth(ip / TCP(sport=40000, dport=80, flags="PA", seq=1001, ack=1) / Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
        eth(ip / TCP(sport=40000, dport=80, flags="FA", seq=1028, ack=1)),
    ),
    "tcp-rst": seq(eth(ip / TCP(sport=40001, dport=80, flags="R", seq=5))),
    "udp-echo": seq(eth(ip / UDP(sport=5000, dport=7) / Raw(b"hello"))),
    "udp-unbound": seq(eth(ip / UDP(sport=5000, dport=9999) / Raw(b"nobody"))),
    "udp-fragment": seq(eth(IP(src=PEER_IP, dst=STACK_IP, flags="MF", frag=0) / UDP(sport=5000, dport=7) / Raw(b"a" * 64))),
    "raw-88b5": seq(eth(Raw(b"custom" * 8), etype=0x88B5)),
}
out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/seeds/ingress"
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}")
