#!/usr/bin/env bash
# The standard swarm scenario (BENCHMARKS.md): the release server with 10,000 asteroids and
# the release swarm beside it on this machine, 1,000 bots in `mix`, 20 s ramp, 60 s run.
# Samples /admin/stats every 10 s during the run; writes everything to bench-out/.
# Usage: scripts/bench-swarm.sh [BOTS] [ASTEROIDS]
# SERVER_BIN=path runs another build of the server (to compare two builds interleaved);
# BOTS_NICE=19 runs the swarm at that nice level.
# SWARM_NETNS=1 runs the swarm in a network namespace of its own, reaching the server over a
# veth pair (10.77.0.1, the server, and 10.77.1.x, the bots' source addresses; needs root and
# iproute2). On loopback the kernel charges the receiving side's TCP work to the sending
# process; across the pair the bots' side is processed apart from the server's system calls,
# so the server's system time is closer to what its own sends cost.
set -euo pipefail
cd "$(dirname "$0")/.."
bots=${1:-1000}
asteroids=${2:-10000}
out=bench-out
mkdir -p "$out"
cargo build --release -p asteroids-server -p asteroids-bots
token=bench-admin-token-$$
port=18080
host=127.0.0.1
swarm_prefix=()
swarm_source=()
netns=""
cleanup() {
  kill "${server:-}" 2>/dev/null || true
  if [ -n "$netns" ]; then ip netns del "$netns" 2>/dev/null || true; ip link del ast-bench0 2>/dev/null || true; fi
}
trap cleanup EXIT
if [ -n "${SWARM_NETNS:-}" ]; then
  netns=ast-bench-$$
  host=10.77.0.1
  ip netns add "$netns"
  ip link add ast-bench0 type veth peer name ast-bench1
  ip link set ast-bench1 netns "$netns"
  ip addr add "$host/16" dev ast-bench0
  ip link set ast-bench0 up
  ip netns exec "$netns" ip link set lo up
  ip netns exec "$netns" ip link set ast-bench1 up
  # The bots' source addresses: as many as the swarm spreads over (16 bots each), from 10.77.1.1,
  # skipping .0 and .255 as the swarm does.
  python3 -c "
n = $bots // 16 + 1
i = 0
while n:
    a, b = divmod(256 + i, 256)
    i += 1
    if b in (0, 255):
        continue
    print(f'10.77.{a}.{b}')
    n -= 1
" | while read -r ip; do ip netns exec "$netns" ip addr add "$ip/16" dev ast-bench1; done
  swarm_prefix=(ip netns exec "$netns")
  swarm_source=(--source-address-base 10.77.1.1)
fi
rm -f "$out"/bench.db*
ASTEROIDS_ADMIN_TOKEN="$token" "${SERVER_BIN:-./target/release/asteroids-server}" --bind $host:$port --asteroids "$asteroids" --db "$out/bench.db" > "$out/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://$host:$port/healthz" > /dev/null && break; sleep 0.2; done
# The server's resident memory, KiB (/proc/<pid>/status).
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
echo "0 $(rss_kb $server)" > "$out/rss.txt"
(
  for i in $(seq 1 9); do
    sleep 10
    curl -sf -H "Authorization: Bearer $token" "http://$host:$port/admin/stats" > "$out/stats-$i.json" || true
    players=$(python3 -c "import json; print(json.load(open('$out/stats-$i.json'))['connections'])" 2>/dev/null || echo "")
    [ -n "$players" ] && echo "$players $(rss_kb $server)" >> "$out/rss.txt"
  done
) &
sampler=$!
# The server's CPU time (user + system, clock ticks of USER_HZ = 100) from /proc/<pid>/stat.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# Per thread: "name user system" ticks for every thread of the server (the simulation thread is
# named "simulation", the store's "store"; everything else is the network: tokio's workers).
thread_ticks() { for t in /proc/$1/task/*; do printf '%s %s\n' "$(cat "$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{ print $12, $13 }')"; done; }
snapshots_sent() { curl -sf -H "Authorization: Bearer $token" "http://$host:$port/admin/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['snapshots'])"; }
server_cpu_before=$(cpu_ticks $server)
thread_ticks $server > "$out/threads-before.txt"
snapshots_before=$(snapshots_sent)
set +e
${BOTS_NICE:+nice -n $BOTS_NICE} "${swarm_prefix[@]}" ./target/release/asteroids-bots --url "ws://$host:$port/ws" "${swarm_source[@]}" --bots "$bots" --ramp-secs 20 --duration-secs 60 \
  --behavior mix --json "$out/report.json" 2> "$out/progress.log" | tee "$out/report.txt"
status=${PIPESTATUS[0]}
set -e
server_cpu=$(( $(cpu_ticks $server) - server_cpu_before ))
thread_ticks $server > "$out/threads-after.txt"
snapshots=$(( $(snapshots_sent) - snapshots_before ))
bot_secs=$(python3 -c "import json; print(json.load(open('$out/report.json'))['bot_secs'])")
python3 -c "print(f'server CPU: {$server_cpu / 100:.1f} s for {$bot_secs:.0f} player-seconds: {10 * $server_cpu / $bot_secs:.3f} ms per player-second')" | tee -a "$out/report.txt"
# Memory per player: the slope of the server's RSS over the connections it held, each 10 s
# sample and the idle server before the swarm (a least-squares line through them).
python3 - "$out/rss.txt" <<'PY' | tee -a "$out/report.txt"
import sys
points = [tuple(map(float, line.split())) for line in open(sys.argv[1]) if len(line.split()) == 2]
n = len(points)
mx = sum(p for p, _ in points) / n
my = sum(r for _, r in points) / n
var = sum((p - mx) ** 2 for p, _ in points)
slope = sum((p - mx) * (r - my) for p, r in points) / var if var else float('nan')
idle = points[0][1]
peak_players, peak = max(points, key=lambda x: x[1])
print(f'server memory: {idle / 1024:.0f} MiB idle, at most {peak / 1024:.0f} MiB ({peak_players:.0f} connections): '
      f'{slope:.1f} KiB per connection (slope over {n} samples)')
PY
# The network's share: every thread but the simulation and the store, per snapshot sent (an
# upper bound on the cost of a snapshot: it also pays for reading inputs, pings and handshakes).
python3 - "$out/threads-before.txt" "$out/threads-after.txt" "$snapshots" <<'PY' | tee -a "$out/report.txt"
import sys
def load(path):
    ticks = {}
    for line in open(path):
        name, user, system = line.rsplit(' ', 2)
        u, s = ticks.get(name, (0, 0))
        ticks[name] = (u + int(user), s + int(system))
    return ticks
before, after = load(sys.argv[1]), load(sys.argv[2])
snapshots = max(int(sys.argv[3]), 1)
delta = {k: (after[k][0] - before.get(k, (0, 0))[0], after[k][1] - before.get(k, (0, 0))[1]) for k in after}
sim, store = sum(delta.pop('simulation', (0, 0))), sum(delta.pop('store', (0, 0)))
net_user = sum(u for u, _ in delta.values())
net_system = sum(s for _, s in delta.values())
net = net_user + net_system
print(f'server threads: simulation {sim / 100:.1f} s, store {store / 100:.1f} s, network {net / 100:.1f} s '
      f'for {snapshots} snapshots: {net * 1e4 / snapshots:.2f} us of network CPU per snapshot')
print(f'network threads: user {net_user / 100:.1f} s, system {net_system / 100:.1f} s: '
      f'{net_user * 1e4 / snapshots:.2f} + {net_system * 1e4 / snapshots:.2f} us per snapshot')
PY
kill $sampler 2>/dev/null || true
curl -sf "http://$host:$port/metrics" -H "Authorization: Bearer $token" > "$out/metrics.txt" || true
echo "swarm exit status: $status"
exit "$status"
