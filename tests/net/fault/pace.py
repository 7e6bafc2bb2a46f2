#!/usr/bin/env python3
"""A paced stream for the rekey soak: gaps in delivery show as gaps between arrivals.

  pace.py recv HOST PORT OUT    TCP server for one connection: reads lines "SEQ SENT_NS", and
                                rewrites OUT (JSON) each second and at the end with the number of
                                lines, whether the sequence was unbroken, and the longest gap
                                between two arrivals (ms) with the time it ended (s since start)
  pace.py send HOST PORT SECS [INTERVAL_MS]
                                connects and writes one line every INTERVAL_MS (50) for SECS;
                                prints "sent N, longest write M ms" and exits 0 when all went
"""
import json
import os
import socket
import sys
import time


def write_json(path, obj):
    with open(path + '.tmp', 'w') as f:
        json.dump(obj, f)
    os.rename(path + '.tmp', path)


def recv(host, port, out):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(1)
    conn, _ = ls.accept()
    conn.settimeout(1.0)
    start = last = time.monotonic()
    st = {'lines': 0, 'in_order': True, 'max_gap_ms': 0, 'max_gap_at_s': 0, 'done': False}
    buf, expect, written = b'', 0, 0.0
    while True:
        try:
            data = conn.recv(65536)
        except socket.timeout:
            data = None
        now = time.monotonic()
        if data == b'':
            break
        if data:
            gap = (now - last) * 1000
            if st['lines'] and gap > st['max_gap_ms']:
                st['max_gap_ms'], st['max_gap_at_s'] = round(gap), round(now - start, 1)
            last = now
            buf += data
            *lines, buf = buf.split(b'\n')
            for line in lines:
                seq = int(line.split()[0])
                st['in_order'] &= seq == expect
                expect = seq + 1
                st['lines'] += 1
        if now - written >= 1.0:
            write_json(out, st)
            written = now
    st['done'] = True
    write_json(out, st)


def send(host, port, secs, interval_ms='50'):
    s = socket.create_connection((host, int(port)), timeout=10)
    step = int(interval_ms) / 1000
    start = time.monotonic()
    n, longest = 0, 0.0
    while time.monotonic() - start < float(secs):
        t = time.monotonic()
        s.sendall(b'%d %d\n' % (n, time.time_ns()))
        longest = max(longest, time.monotonic() - t)
        n += 1
        time.sleep(max(0.0, start + n * step - time.monotonic()))
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    s.recv(1)
    print('sent %d, longest write %d ms' % (n, longest * 1000), flush=True)


cmds = {'recv': recv, 'send': send}
if len(sys.argv) < 2 or sys.argv[1] not in cmds:
    sys.exit(__doc__)
cmds[sys.argv[1]](*sys.argv[2:])
