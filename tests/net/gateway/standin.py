#!/usr/bin/env python3
"""Development aid: turns the [Forward]s of a porthole file into an HAProxy configuration, so
the gateway tests can be checked against HAProxy itself (GW_STANDIN=haproxy). TCP only; what
HAProxy cannot express (AcceptProxy = optional, UDP) is approximated or left out.

Usage: standin.py FILE > haproxy.cfg; prints the file without its [Forward]s on fd 3."""
import re
import sys


def sections(path):
    cur = None
    for line in open(path):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        if line.startswith('['):
            cur = {'_kind': line, '_lines': []}
            yield cur
            continue
        key, _, value = line.partition('=')
        cur[key.strip().lower()] = value.strip()
        cur['_lines'].append(line)


def seconds(text):
    m = re.fullmatch(r'(\d+)(ms|s|m|h|d)?', text)
    mult = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, None: 1}[m.group(2)]
    return '%dms' % (int(m.group(1)) * mult * 1000)


def main():
    secs = list(sections(sys.argv[1]))
    with open(3, 'w') as rest:
        for s in secs:
            if s['_kind'] != '[Forward]':
                rest.write('%s\n%s\n\n' % (s['_kind'], '\n'.join(s['_lines'])))
    fwds = [s for s in secs if s['_kind'] == '[Forward]' and s.get('protocol', 'tcp') == 'tcp']
    out = ['global', '  log stdout format raw local0', 'defaults', '  mode tcp', '  log global',
           '  option tcplog', '  timeout client 1h', '  timeout server 1h', '  retries 10']
    listens = {}
    for i, f in enumerate(fwds):
        f.setdefault('name', 'forward%d' % (i + 1))
        listens.setdefault(f['listen'], []).append(f)
    for n, (listen, group) in enumerate(listens.items()):
        first = group[0]
        bind = '  bind %s' % listen
        if first.get('acceptproxy', 'off').lower() != 'off':
            bind += ' accept-proxy'
        out += ['frontend fe%d' % n, bind]
        named = [f for f in group if f.get('servername')]
        default = [f for f in group if not f.get('servername')]
        if named:
            out += ['  tcp-request inspect-delay 5s',
                    '  tcp-request content accept if { req.ssl_hello_type 1 }']
            for f in named:
                for pat in re.split(r'[,\s]+', f['servername']):
                    match = '-m end %s' % pat[1:] if pat.startswith('*.') else pat
                    out.append('  use_backend %s if { req.ssl_sni -i %s }' % (f['name'], match))
            if not default:
                out.append('  tcp-request content reject')
        if default:
            out.append('  default_backend %s' % default[0]['name'])
        for f in group:
            server = '  server s %s' % f['target']
            sp = f.get('sendproxy', 'off').lower()
            server += {'v1': ' send-proxy', 'v2': ' send-proxy-v2', 'off': ''}[sp]
            out += ['backend %s' % f['name'], server]
            if 'connecttimeout' in f:
                out.append('  timeout connect %s' % seconds(f['connecttimeout']))
    print('\n'.join(out))


main()
