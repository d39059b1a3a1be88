#!/usr/bin/env bash
# The universe's benchmark: scripts/universe.sh N sectors on this machine (Redis, PostgreSQL,
# N sector processes), then a swarm spread over them that travels from sector to sector
# (`universe-mix`: 40 % voyage, 40 % fight, 20 % idle), at nice 19 so the sectors get the
# CPU first. Prints the swarm's report (crossings, crossing latency, correction at crossing,
# snapshots/s, downlink, the swarm's CPU) and, per sector, what its /admin/stats says (missed
# ticks, tick time, hand-overs, the store's commits: mean latency and batch size), then stops
# the universe.
#
#   scripts/bench-universe.sh [SECTORS=3] [BOTS=600] [DURATION_SECS=60]
#
# Output also in bench-out/universe-*.json. Environment: UNIVERSE_ASTEROIDS (per sector,
# default 3000), RAMP_SECS (20).
set -euo pipefail
cd "$(dirname "$0")/.."
sectors="${1:-3}"
bots="${2:-600}"
duration="${3:-60}"
ramp="${RAMP_SECS:-20}"
export UNIVERSE_ASTEROIDS="${UNIVERSE_ASTEROIDS:-3000}"
base_port="${UNIVERSE_BASE_PORT:-8081}"
mkdir -p bench-out
stamp=$(date +%Y%m%d-%H%M%S)

cargo build --release -q -p asteroids-bots
scripts/universe.sh "$sectors" --max-connections 2000
trap 'scripts/universe.sh stop' EXIT
token=$(cat .universe/admin-token)

nice -n 19 target/release/asteroids-bots --universe "http://127.0.0.1:$base_port" --bots "$bots" \
  --behavior universe-mix --ramp-secs "$ramp" --duration-secs "$duration" \
  --json "bench-out/universe-$stamp-swarm.json"

echo
echo "per sector (/admin/stats at the end of the run):"
for ((i = 0; i < sectors; i++)); do
  port=$((base_port + i))
  curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/stats" > "bench-out/universe-$stamp-sector-$i.json"
  python3 - "bench-out/universe-$stamp-sector-$i.json" "$port" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
commits = max(s.get("store_commits", 0), 1)
print(f"  :{sys.argv[2]} sector {s['universe']['sector']}: players {s['players']}, missed ticks {s['missed_ticks']}, "
      f"tick p50 {s['tick_ms']['p50']:.2f} / p99 {s['tick_ms']['p99']:.2f} ms, "
      f"hand-overs in {s['handovers_in']} / out {s['handovers_out']}, turned back {s['edge_turnbacks']}, "
      f"tickets refused {s['tickets_forged'] + s['tickets_expired'] + s['tickets_replayed'] + s['tickets_wrong_sector'] + s['tickets_unrecorded']}, "
      f"store: {s.get('store_commits', 0)} commits, mean {s.get('store_commit_us', 0) / commits / 1000:.2f} ms, "
      f"{s.get('store_committed_changes', 0) / commits:.1f} changes per commit, waited {s.get('store_wait_ms', 0)} ms")
EOF
done
