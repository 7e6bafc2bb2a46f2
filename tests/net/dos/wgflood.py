#!/usr/bin/env python3
"""Hostile WireGuard traffic for the denial-of-service tests, each result one line to grep.

  wgflood.py flood PUBKEY_B64 DST PORT SRC_BASE FIRST LAST RATE SECS
        handshake initiations with a valid mac1 for PUBKEY (random sender index, ephemeral and
        ciphertext, so each costs the responder work) at RATE per second for SECS seconds, sent
        from every address SRC_BASE.FIRST .. SRC_BASE.LAST in turn (one socket each, the
        addresses already on an interface). Replies are counted per size. Prints
        "sent N received M bytes_in B bytes_out B sizes {SIZE: COUNT}" and, every second,
        "t=S sent N received M".
  wgflood.py garbage DST PORT SECS [SRC]
        random bytes of random sizes (1..1400), as fast as one socket sends, for SECS seconds.
        Prints "sent N bytes B".

mac1 (WireGuard paper, section 5.4.4; wireguard.com/protocol "Cookie MACs"): the key is
BLAKE2s-256("mac1----" || responder's static public key) and mac1 is the 16-byte keyed BLAKE2s
of the message up to the mac1 field (116 bytes of the 148-byte initiation).
"""
import base64
import hashlib
import os
import random
import select
import socket
import struct
import sys
import time

INITIATION_LEN = 148
MAC1_OFFSET = 116


def mac1_key(pub):
    return hashlib.blake2s(b'mac1----' + pub).digest()


def initiation(key):
    body = struct.pack('<II', 1, random.getrandbits(32)) + os.urandom(MAC1_OFFSET - 8)
    mac1 = hashlib.blake2s(body, key=key, digest_size=16).digest()
    return body + mac1 + bytes(16)


def drain(ep, socks, stats):
    for fd, _ in ep.poll(0):
        s = socks[fd]
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            stats['received'] += 1
            stats['bytes_in'] += len(data)
            stats['sizes'][len(data)] = stats['sizes'].get(len(data), 0) + 1


def flood(pub_b64, dst, port, base, first, last, rate, secs):
    key = mac1_key(base64.b64decode(pub_b64))
    # A pool of distinct messages: mac1 does not depend on the source, so precomputing keeps
    # the sending loop fast enough for thousands a second.
    pool = [initiation(key) for _ in range(4096)]
    socks, ep = {}, select.epoll()
    for i in range(int(first), int(last) + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('%s.%d' % (base, i), 0))
        s.setblocking(False)
        socks[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLIN)
    order = list(socks.values())
    stats = {'sent': 0, 'received': 0, 'bytes_in': 0, 'bytes_out': 0, 'sizes': {}}
    rate, target = float(rate), (dst, int(port))
    start = time.monotonic()
    end, tick = start + float(secs), start + 1
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * rate) - stats['sent']
        for _ in range(min(due, 256)):
            msg = pool[stats['sent'] % len(pool)]
            try:
                order[stats['sent'] % len(order)].sendto(msg, target)
            except (BlockingIOError, ConnectionRefusedError):
                pass
            stats['sent'] += 1
            stats['bytes_out'] += len(msg)
        drain(ep, socks, stats)
        if now >= tick:
            print('t=%d sent %d received %d' % (round(now - start), stats['sent'],
                                                stats['received']), flush=True)
            tick += 1
        if due <= 0:
            time.sleep(0.0005)
    time.sleep(0.3)
    drain(ep, socks, stats)
    print('sent %d received %d bytes_in %d bytes_out %d sizes %s' % (
        stats['sent'], stats['received'], stats['bytes_in'], stats['bytes_out'],
        dict(sorted(stats['sizes'].items()))), flush=True)


def garbage(dst, port, secs, src=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.connect((dst, int(port)))
    blob = os.urandom(1 << 16)
    sizes = [random.randint(1, 1400) for _ in range(1021)]
    sent = total = 0
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        for _ in range(64):
            n = sizes[sent % len(sizes)]
            off = (sent * 61) % (len(blob) - n)
            try:
                s.send(blob[off:off + n])
            except (ConnectionRefusedError, BlockingIOError):
                pass
            sent += 1
            total += n
    print('sent %d bytes %d' % (sent, total), flush=True)


def main():
    cmds = {'flood': flood, 'garbage': garbage}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == '__main__':
    main()
