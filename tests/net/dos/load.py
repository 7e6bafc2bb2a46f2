#!/usr/bin/env python3
"""Connection load for the proxy-limit tests, each result one line to grep.

  load.py echo HOST PORT          TCP echo server (asyncio); the connection ends when the client's does
  load.py mute HOST PORT          TCP server that accepts and then neither reads, writes nor closes
  load.py hold HOST PORT N SECS   opens N connections at once (non-blocking, each sends one line),
                                  holds them SECS seconds, then closes all: prints
                                  "established E of N" and "closed"
  load.py churn HOST PORT N CONC  N short connections, CONC at a time: connect, send 32 bytes,
                                  read them back, close. Prints "churn OK of N in T s"
  load.py probe HOST PORT         one echo round trip within 0.5 s: exit status 0 when it worked
  load.py halfclose HOST PORT SECS
                                  sends one line, shuts down its sending side and waits for the
                                  end: prints "eof after T", "reset after T" or "open after T"
  load.py hello NAME              the hex of a TLS 1.2 ClientHello record naming NAME (SNI)
"""
import asyncio
import errno
import os
import resource
import selectors
import socket
import struct
import sys
import threading
import time


def out(*args):
    print(*args, flush=True)


def more_fds(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


async def echo_conn(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    writer.close()


def echo(host, port):
    more_fds(65536)

    async def run():
        server = await asyncio.start_server(echo_conn, host, int(port), backlog=4096)
        async with server:
            await server.serve_forever()
    asyncio.run(run())


def mute(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(64)
    held = []
    while True:
        held.append(s.accept()[0])


def hold(host, port, n, secs):
    n = int(n)
    more_fds(n + 64)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        if c.connect_ex((host, int(port))) not in (0, errno.EINPROGRESS):
            c.close()
            continue
        socks.append(c)
        sel.register(c, selectors.EVENT_WRITE)
    established, end = 0, time.monotonic() + 3
    while established < len(socks) and time.monotonic() < end:
        for key, _ in sel.select(0.2):
            c = key.fileobj
            sel.unregister(c)
            if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                established += 1
                try:
                    c.send(b'held\n')
                except OSError:
                    pass
    out('established %d of %d' % (established, n))
    time.sleep(float(secs))
    for c in socks:
        c.close()
    out('closed')


def exchange(host, port, timeout):
    msg = os.urandom(16).hex().encode()
    with socket.create_connection((host, int(port)), timeout=timeout) as c:
        c.sendall(msg)
        got = b''
        while len(got) < len(msg):
            data = c.recv(64)
            if not data:
                break
            got += data
        return got == msg


def churn(host, port, n, conc):
    n, conc = int(n), int(conc)
    counts = [0] * conc
    start = time.monotonic()

    def worker(i):
        for _ in range(i, n, conc):
            try:
                counts[i] += exchange(host, port, 5)
            except OSError:
                pass
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out('churn %d of %d in %.1f s' % (sum(counts), n, time.monotonic() - start))


def probe(host, port):
    try:
        sys.exit(0 if exchange(host, port, 0.5) else 1)
    except OSError:
        sys.exit(1)


def halfclose(host, port, secs):
    c = socket.create_connection((host, int(port)), timeout=5)
    start = time.monotonic()
    c.sendall(b'half\n')
    c.shutdown(socket.SHUT_WR)
    c.settimeout(float(secs))
    try:
        while c.recv(4096):
            pass
        out('eof after %.1f' % (time.monotonic() - start))
    except socket.timeout:
        out('open after %.1f' % (time.monotonic() - start))
    except ConnectionResetError:
        out('reset after %.1f' % (time.monotonic() - start))


def hello(name):
    """RFC 8446 4.1.2 ClientHello with only the server_name extension (RFC 6066 section 3)."""
    host = name.encode()
    sni = struct.pack('!HBH', len(host) + 3, 0, len(host)) + host
    ext = struct.pack('!HH', 0, len(sni)) + sni
    body = (b'\x03\x03' + bytes(32) + b'\x00' + struct.pack('!H', 2) + b'\x13\x01' +
            b'\x01\x00' + struct.pack('!H', len(ext)) + ext)
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    out((b'\x16\x03\x01' + struct.pack('!H', len(hs)) + hs).hex())


def main():
    cmds = {'echo': echo, 'mute': mute, 'hold': hold, 'churn': churn, 'probe': probe,
            'halfclose': halfclose, 'hello': hello}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == '__main__':
    main()
