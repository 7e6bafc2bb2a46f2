#!/usr/bin/env python3
"""Small servers and clients for the gateway tests, each line of output a fact to grep.

  tool.py sink HOST PORT          TCP: per connection "open PEER", then at its end
                                  "close PEER BYTES FIRST_BYTES" (repr of up to 64 bytes)
  tool.py rst HOST PORT           TCP: reads one chunk per connection, then resets it (RST)
  tool.py udpecho HOST PORT       UDP: answers each datagram with "PEER DATA", logs "PEER DATA";
                                  a datagram with a PROXY v2 header (UDP over IPv4) is
                                  "PEER PP SRC DST DATA"
  tool.py udpsend HOST PORT SRCPORT MSG [SIZE]
                                  UDP: sends MSG (padded with '.' to SIZE bytes) from SRCPORT,
                                  prints the answer or "no answer" after 3 s
  tool.py talk HOST PORT TEXT SECS
                                  TCP: sends TEXT, then reads until the end: prints "eof after T",
                                  "reset after T" or "open after T" (nothing within SECS)
  tool.py drip HOST PORT SECS HEX TCP: sends the bytes one at a time, SECS apart, and prints
                                  "closed after T" (seconds since connect) or "open after T"
"""
import socket
import sys
import threading
import time


def out(*args):
    print(*args, flush=True)


def peer(addr):
    return '%s:%d' % (addr[0], addr[1])


def serve_conn(conn, addr):
    total, first = 0, b''
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                break
            if not data:
                break
            total += len(data)
            first = (first + data)[:64]
    out('close', peer(addr), total, repr(first))


def sink(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(64)
    while True:
        conn, addr = s.accept()
        out('open', peer(addr))
        threading.Thread(target=serve_conn, args=(conn, addr), daemon=True).start()


PP2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'


def proxy_v2(data):
    """(description, payload) of a datagram with a v2 header for UDP over IPv4."""
    if not data.startswith(PP2_SIG) or len(data) < 16:
        return '', data
    length = int.from_bytes(data[14:16], 'big')
    if data[12] != 0x21 or data[13] != 0x12 or length < 12:
        return 'PP bad %02x %02x' % (data[12], data[13]), data[16 + length:]
    a = data[16:28]
    src = '%s:%d' % (socket.inet_ntoa(a[0:4]), int.from_bytes(a[8:10], 'big'))
    dst = '%s:%d' % (socket.inet_ntoa(a[4:8]), int.from_bytes(a[10:12], 'big'))
    return 'PP %s %s ' % (src, dst), data[16 + length:]


def rst(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(16)
    while True:
        conn, addr = s.accept()
        conn.recv(65536)
        # linger 0: close() sends RST instead of FIN
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
        conn.close()
        out('reset', peer(addr))


def udpecho(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    while True:
        data, addr = s.recvfrom(65536)
        pp, data = proxy_v2(data)
        line = '%s %s%s' % (peer(addr), pp, data.decode(errors='replace').strip())
        out(line)
        s.sendto(line.encode() + b'\n', addr)


def udpsend(host, port, srcport, msg, size=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', int(srcport)))
    s.settimeout(3)
    s.sendto(msg.encode().ljust(int(size), b'.'), (host, int(port)))
    try:
        out(s.recv(65536).decode(errors='replace').strip())
    except socket.timeout:
        out('no answer')


def talk(host, port, text, secs):
    c = socket.create_connection((host, int(port)), timeout=5)
    start = time.monotonic()
    c.sendall(text.encode() + b'\n')
    c.settimeout(float(secs))
    how = 'eof'
    try:
        while c.recv(65536):
            pass
    except socket.timeout:
        how = 'open'
    except ConnectionResetError:
        how = 'reset'
    out('%s after %.1f' % (how, time.monotonic() - start))


def drip(host, port, secs, hexdata):
    c = socket.create_connection((host, int(port)), timeout=5)
    start = time.monotonic()
    c.settimeout(float(secs))
    for b in bytes.fromhex(hexdata):
        try:
            c.send(bytes([b]))
            if c.recv(1) == b'':
                break
        except socket.timeout:
            continue
        except OSError:
            break
    else:
        out('open after %.1f' % (time.monotonic() - start))
        return
    out('closed after %.1f' % (time.monotonic() - start))


cmds = {'sink': sink, 'rst': rst, 'udpecho': udpecho, 'udpsend': udpsend, 'talk': talk, 'drip': drip}
if len(sys.argv) < 2 or sys.argv[1] not in cmds:
    sys.exit(__doc__)
cmds[sys.argv[1]](*sys.argv[2:])
