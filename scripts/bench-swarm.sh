#!/usr/bin/env bash
# The standard swarm scenario (BENCHMARKS.md): the release server with 10,000 asteroids and
# the release swarm beside it on this machine, 1,000 bots in `mix`, 20 s ramp, 60 s run.
# Samples /admin/stats every 10 s during the run; writes everything to bench-out/.
# Usage: scripts/bench-swarm.sh [BOTS] [ASTEROIDS]
# SERVER_BIN=path runs another build of the server (to compare two builds interleaved);
# BOTS_NICE=19 runs the swarm at that nice level.
set -euo pipefail
cd "$(dirname "$0")/.."
bots=${1:-1000}
asteroids=${2:-10000}
out=bench-out
mkdir -p "$out"
cargo build --release -p asteroids-server -p asteroids-bots
token=bench-admin-token-$$
port=18080
rm -f "$out"/bench.db*
ASTEROIDS_ADMIN_TOKEN="$token" "${SERVER_BIN:-./target/release/asteroids-server}" --bind 127.0.0.1:$port --asteroids "$asteroids" --db "$out/bench.db" > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.2; done
(
  for i in $(seq 1 9); do
    sleep 10
    curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/stats" > "$out/stats-$i.json" || true
  done
) &
sampler=$!
# The server's CPU time (user + system, clock ticks of USER_HZ = 100) from /proc/<pid>/stat.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# Per thread: "name ticks" for every thread of the server (the simulation thread is named
# "simulation", the store's "store"; everything else is the network: tokio's workers).
thread_ticks() { for t in /proc/$1/task/*; do printf '%s %s\n' "$(cat "$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{ print $12 + $13 }')"; done; }
snapshots_sent() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['snapshots'])"; }
server_cpu_before=$(cpu_ticks $server)
thread_ticks $server > "$out/threads-before.txt"
snapshots_before=$(snapshots_sent)
set +e
${BOTS_NICE:+nice -n $BOTS_NICE} ./target/release/asteroids-bots --url "ws://127.0.0.1:$port/ws" --bots "$bots" --ramp-secs 20 --duration-secs 60 \
  --behavior mix --json "$out/report.json" 2> "$out/progress.log" | tee "$out/report.txt"
status=${PIPESTATUS[0]}
set -e
server_cpu=$(( $(cpu_ticks $server) - server_cpu_before ))
thread_ticks $server > "$out/threads-after.txt"
snapshots=$(( $(snapshots_sent) - snapshots_before ))
bot_secs=$(python3 -c "import json; print(json.load(open('$out/report.json'))['bot_secs'])")
python3 -c "print(f'server CPU: {$server_cpu / 100:.1f} s for {$bot_secs:.0f} player-seconds: {10 * $server_cpu / $bot_secs:.3f} ms per player-second')" | tee -a "$out/report.txt"
# The network's share: every thread but the simulation and the store, per snapshot sent (an
# upper bound on the cost of a snapshot: it also pays for reading inputs, pings and handshakes).
python3 - "$out/threads-before.txt" "$out/threads-after.txt" "$snapshots" <<'PY' | tee -a "$out/report.txt"
import sys
def load(path):
    ticks = {}
    for line in open(path):
        name, t = line.rsplit(' ', 1)
        ticks[name] = ticks.get(name, 0) + int(t)
    return ticks
before, after = load(sys.argv[1]), load(sys.argv[2])
snapshots = int(sys.argv[3])
delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
sim, store = delta.pop('simulation', 0), delta.pop('store', 0)
net = sum(delta.values())
print(f'server threads: simulation {sim / 100:.1f} s, store {store / 100:.1f} s, network {net / 100:.1f} s '
      f'for {snapshots} snapshots: {net * 1e4 / max(snapshots, 1):.2f} us of network CPU per snapshot')
PY
kill $sampler 2>/dev/null || true
curl -sf "http://127.0.0.1:$port/metrics" -H "Authorization: Bearer $token" > "$out/metrics.txt" || true
echo "swarm exit status: $status"
exit "$status"
