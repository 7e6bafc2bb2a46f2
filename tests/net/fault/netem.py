#!/usr/bin/env python3
"""A netem stand-in for the fault tests: a UDP relay between home and the vps's WireGuard port.

This kernel has no sch_netem (tc qdisc ... netem: "Specified qdisc kind is unknown"), so the
faults are made here, in user space, on the tunnel's datagrams in both directions:

  netem.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT CTL STATS

Home's Endpoint is LISTEN_HOST:LISTEN_PORT; each home address gets its own socket connected to
the target (the vps daemon), and the vps's answers go back from the listening socket.

CTL is a file of "key value" lines, read again whenever it changes (checked every 50 ms):
  loss PERCENT      drop each datagram with this probability
  delay MS          hold each datagram for MS ...
  jitter MS         ... plus or minus up to MS (uniform): datagrams overtake each other, as with
                    netem's jitter
  reorder PERCENT   send this share at once, ahead of the delayed ones (netem's reorder)
  dup PERCENT       send this share twice
  down 0|1          drop everything (a link that is down, as netem loss 100%)
A missing file or key means no fault of that kind.

STATS is rewritten (whole, atomically) at most every 100 ms as one JSON object: per direction
("up": home to vps, "down": vps to home) the WireGuard messages seen by type (init, resp, cookie,
data) and those dropped and duplicated (dup_data: the duplicated data messages), so that tests can
count handshakes on the wire.
"""
import heapq
import json
import os
import random
import selectors
import socket
import sys
import time

TYPES = {1: 'init', 2: 'resp', 3: 'cookie', 4: 'data'}
KEYS = ('loss', 'delay', 'jitter', 'reorder', 'dup', 'down')


def read_ctl(path):
    conf = dict.fromkeys(KEYS, 0.0)
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] in conf:
                    conf[parts[0]] = float(parts[1])
    except OSError:
        pass
    return conf


class Relay:
    def __init__(self, listen, target, ctl, stats):
        self.target, self.ctl, self.stats_path = target, ctl, stats
        self.conf, self.ctl_mtime = read_ctl(ctl), None
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.lsock.bind(listen)
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.upstream = {}  # home address -> socket connected to the target
        self.queue, self.seq = [], 0  # (due, seq, sock, data, addr) heap of delayed datagrams
        keys = list(TYPES.values()) + ['other', 'dropped', 'duplicated', 'dup_data']
        self.stats = {d: dict.fromkeys(keys, 0) for d in ('up', 'down')}
        self.dirty, self.written = True, 0.0

    def sock_for(self, addr):
        s = self.upstream.get(addr)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((self.lsock.getsockname()[0], 0))
            s.connect(self.target)
            s.setblocking(False)
            self.upstream[addr] = s
            self.sel.register(s, selectors.EVENT_READ, addr)
        return s

    def chance(self, key):
        return self.conf[key] > 0 and random.random() * 100 < self.conf[key]

    def send(self, sock, data, addr):
        try:
            if addr is None:
                sock.send(data)
            else:
                sock.sendto(data, addr)
        except OSError:
            pass  # an unreachable side is part of the fault

    def impair(self, direction, sock, data, addr):
        st = self.stats[direction]
        st[TYPES.get(data[0] if data else 0, 'other')] += 1
        self.dirty = True
        if self.conf['down'] or self.chance('loss'):
            st['dropped'] += 1
            return
        copies = 1
        if self.chance('dup'):
            st['duplicated'] += 1
            st['dup_data'] += data[0] == 4
            copies = 2
        now = time.monotonic()
        for _ in range(copies):
            delay = self.conf['delay'] + random.uniform(-1, 1) * self.conf['jitter']
            if delay <= 0 or self.chance('reorder'):
                self.send(sock, data, addr)
                continue
            self.seq += 1
            heapq.heappush(self.queue, (now + delay / 1000, self.seq, sock, data, addr))

    def readable(self, sock, home):
        for _ in range(64):
            try:
                data, src = sock.recvfrom(65536)
            except OSError:  # BlockingIOError: all read; others: a side unreachable
                return
            if home is None:
                self.impair('up', self.sock_for(src), data, None)
            else:
                self.impair('down', self.lsock, data, home)

    def housekeeping(self, now):
        try:
            mtime = os.stat(self.ctl).st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self.ctl_mtime:
            self.ctl_mtime, self.conf = mtime, read_ctl(self.ctl)
        if self.dirty and now - self.written >= 0.1:
            tmp = self.stats_path + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(self.stats, f)
            os.rename(tmp, self.stats_path)
            self.dirty, self.written = False, now

    def run(self):
        self.lsock.setblocking(False)
        last = 0.0
        while True:
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, _, sock, data, addr = heapq.heappop(self.queue)
                self.send(sock, data, addr)
            if now - last >= 0.05:
                self.housekeeping(now)
                last = now
            timeout = 0.05
            if self.queue:
                timeout = max(0.0, min(timeout, self.queue[0][0] - now))
            for key, _ in self.sel.select(timeout):
                self.readable(key.fileobj, key.data)


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    host, port, thost, tport, ctl, stats = sys.argv[1:]
    Relay((host, int(port)), (thost, int(tport)), ctl, stats).run()


if __name__ == '__main__':
    main()
