#!/usr/bin/env python3
"""Turns bench/run.sh's raw figures (STACK<TAB>METRIC<TAB>VALUE lines) into the table on stdout,
the JSON file and docs/performance.md. The ratios are porthole's figure over the hand-made stack's
with Debian 13's wireguard-go (wg13)."""
import argparse
import json
import subprocess

BASE = "wg13"
RATIO_OF = ["porthole", "pt-hap"]
# A figure the hand-made stack has no twin of is compared with this one of its own: HAProxy's
# busy-polling only slows that stack down here, so its latency is best without it.
BASE_METRIC = {"lat_busy_p50_ms": "lat_p50_ms", "lat_busy_p99_ms": "lat_p99_ms"}
# metric, label, which way is better ("up", "down", or "" when it is a yes/no)
ROWS = [
    ("intact", f"echo transfer intact (sha256)", ""),
    ("tcp_up_p1", "TCP client -> home, 1 stream, Gbit/s", "up"),
    ("tcp_up_p4", "TCP client -> home, 4 streams, Gbit/s", "up"),
    ("tcp_down_p1", "TCP home -> client, 1 stream, Gbit/s", "up"),
    ("tcp_down_p4", "TCP home -> client, 4 streams, Gbit/s", "up"),
    ("udp_tunnel", "UDP vps -> home in the tunnel, Gbit/s recv", "up"),
    ("udp_tunnel_loss_pct", "  its loss, %", "down"),
    ("udp_forward", "UDP client -> home via udp forward, Gbit/s", "up"),
    ("udp_forward_loss_pct", "  its loss, %", "down"),
    ("http_keepalive_rps", "keep-alive requests/s (wrk -c 50)", "up"),
    ("http_newconn_rps", "new connections/s (Connection: close)", "up"),
    ("lat_p50_ms", "latency p50 at fixed rate, ms", "down"),
    ("lat_p99_ms", "latency p99 at fixed rate, ms", "down"),
    ("lat_busy_p50_ms", "  p50 with porthole's BusyPoll on, ms", "down"),
    ("lat_busy_p99_ms", "  p99 with porthole's BusyPoll on, ms", "down"),
    ("rss_total_mb", "peak RSS of all daemons, MB", "down"),
    ("cpu_s_per_gb", "daemon CPU s per GB (TCP runs)", "down"),
]


def load(tsv):
    """Every value run.sh put, per stack and metric (one per round, or more), then the figure."""
    stacks, runs = [], {}
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            stack, metric, value = parts
            if stack not in runs:
                stacks.append(stack)
                runs[stack] = {}
            runs[stack].setdefault(metric, []).append(num(value))
    data = {s: {m: combine(m, vs) for m, vs in ms.items()} for s, ms in runs.items()}
    return stacks, data, runs


def combine(metric, values):
    """A figure out of its rounds: the median, but every transfer must be intact, errors add up
    and a peak is the highest."""
    if metric in ("intact", "up"):
        return "no" if "no" in values else values[0]
    nums = sorted(v for v in values if isinstance(v, (int, float)))
    if not nums:
        return values[0]
    if metric.endswith("_errors"):
        return sum(nums)
    if metric.startswith("rss_"):
        return nums[-1]
    return nums[(len(nums) - 1) // 2]


def num(text):
    try:
        v = float(text)
        return int(v) if v.is_integer() and "." not in text else v
    except ValueError:
        return text if text not in ("", "null") else None


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}x"
    return ""


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def with_cc2(cc2):
    """ROWS, each TCP figure followed by its twin measured under the second congestion control."""
    rows = []
    for metric, label, better in ROWS:
        rows.append((metric, label, better))
        if cc2 and (metric.startswith("tcp_") or metric == "cpu_s_per_gb"):
            rows.append((metric + "_cc2", f"  the same under {cc2}", better))
    return rows


def table(stacks, data, cc2=""):
    ratios = [s for s in RATIO_OF if s in data and BASE in data]
    head = ["figure"] + stacks + [f"{s} / {BASE}" for s in ratios]
    rows = []
    for metric, label, _ in with_cc2(cc2):
        if not any(metric in data[s] for s in stacks):
            continue
        row = [label] + [fmt(data[s].get(metric)) for s in stacks]
        base = data.get(BASE, {}).get(BASE_METRIC.get(metric, metric))
        row += [ratio(data[s].get(metric), base) for s in ratios]
        rows.append(row)
    # Every daemon's own peak, below the total.
    roles = sorted({m for s in stacks for m in data[s] if m.startswith("rss_mb.")})
    for m in roles:
        rows.append([f"  peak RSS {m[7:]}, MB"] + [fmt(data[s].get(m)) for s in stacks]
                    + ["" for _ in ratios])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def doc(path, tab, meta, notes):
    cc2 = (f"; each TCP figure is measured once more with every stack restarted under "
           f"{meta['cc2']} (the row below it)" if meta.get("cc2") else "")
    busy = (f", and again for the stacks with porthole after a reload with `BusyPoll = "
            f"{meta['busy_poll']}` at both ends (its ratio against the hand-made stack's plain "
            f"figure)" if meta.get("busy_poll", "0") != "0" else "")
    avx512 = "yes" if "avx512f" in sh("grep -m 1 '^flags' /proc/cpuinfo").split() else "no"
    machine = (f"nproc: {sh('nproc')}\nkernel: {sh('uname -r')}\nAVX-512: {avx512}\n"
               f"CPU time taken by the hypervisor (steal) during the run: "
               f"{meta.get('steal_pct', '?')} %\n"
               f"kernel preemption: {meta.get('preempt', '?')}\n"
               f"DAMON threads: {meta.get('damon', '?')}, "
               f"{meta.get('kdamond_s', '?')} s of CPU during the run\n" + sh("lscpu | head"))
    text = f"""# Performance

The latest `make bench` table (see `bench/README.md` for what each stack and figure is). Produced by
`bench/run.sh`, which rewrites this file; compare runs on the same machine only.

Run: {meta.get('started', '?')}, command `{meta.get('command', 'make bench')}`, {meta.get('seconds')} s per
iperf3/wrk run, {meta.get('rounds', 1)} rounds (each stack up, measured, down, in turn, so that the
machine's drifts hit every stack alike) and each figure the median of its rounds, latency (bench/loadgen.c, open loop) at {meta.get('lat_rate')} requests/s over {meta.get('lat_conns')} keep-alive
connections{busy}.

Stacks: `route` = routing only, no tunnel, no gateway; `haproxy` = HAProxy alone (vps -> home LAN
address); `wg12` / `wg13` = the hand-made stack, wireguard-go at both ends configured with `wg`, plus
HAProxy 2.6 `mode tcp` (`send-proxy-v2` on the web listener) on the vps, with wireguard-go
{meta.get('wg12')} and {meta.get('wg13')}; `pt-hap` = porthole's tunnel with HAProxy as the gateway;
`porthole` = `porthole up` at both ends, the vps file's `[Forward]`s as the gateway
({meta.get('porthole') or 'porthole'}). Ratios are porthole over `{BASE}`. Tunnel MTU: wireguard-go
1420 (its default), porthole {meta.get('porthole_mtu', '1408 (its default)')}: full packets of 22 ChaCha20 blocks,
sealed and opened without a partial block (docs/design.md, The MTU). TCP congestion
control in every namespace: {meta.get('cc', 'the machine default')}{cc2}.

TCP figures go through a TCP listener of the gateway without a PROXY header (iperf3 does not speak
it), the same for every stack; requests/s and latency go through the `SendProxy = v2` /
`send-proxy-v2` listener to nginx with `listen ... proxy_protocol`.

{tab}

Notes:
{chr(10).join('- ' + n for n in notes) if notes else '- none'}

Machine:
```
{machine}
```
"""
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--notes")
    ap.add_argument("--json", required=True)
    ap.add_argument("--doc", default="")
    ap.add_argument("--meta", nargs="*", default=[])
    a = ap.parse_args()
    meta = dict(kv.split("=", 1) for kv in a.meta)
    stacks, data, runs = load(a.tsv)
    notes = []
    if a.notes:
        with open(a.notes) as f:
            notes = [l.strip() for l in f if l.strip()]
    tab = table(stacks, data, meta.get("cc2", ""))
    ratios = {s: {m: (data[s][m] / data[BASE][m]) for m in data[s]
                  if isinstance(data[s][m], (int, float)) and
                  isinstance(data[BASE].get(m), (int, float)) and data[BASE][m]}
              for s in RATIO_OF if s in data and BASE in data}
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "machine": {"nproc": sh("nproc"), "kernel": sh("uname -r"),
                                             "cpu": sh("lscpu | sed -n 's/^Model name: *//p'")},
                   "stacks": data, "ratios_vs_" + BASE: ratios, "runs": runs,
                   "notes": notes}, f, indent=1)
    print(tab)
    for n in notes:
        print("note:", n)
    print(f"JSON: {a.json}")
    if a.doc:
        doc(a.doc, tab, meta, notes)
        print(f"table written to {a.doc}")


if __name__ == "__main__":
    main()
