#!/usr/bin/env bash
# examples/ad-clicks/run.sh -- ad clicks feeding prices in real time, against `runnel dev-cluster`
# (started here, 3 nodes on 127.0.0.1) or any Kafka cluster given with --bootstrap.
#
#   examples/ad-clicks/run.sh [--bootstrap HOST:PORT] [--seconds 30] [--rate 200] [--check]
#                             [--runnel BIN] [--python PY] [--work DIR]
#
# Starts two pricing workers (pricer.py, consumer group ad-pricer, exactly-once), then the click
# generator (clicks.py) for --seconds; a third of the way in it SIGKILLs worker 1 and restarts
# it 12 s later (past the group's 10 s session timeout: its partitions move to worker 2, which
# resumes them from the committed offsets and restored totals, and back when worker 1 returns). Then it prints every ad's price
# (prices.py show) and, with --check, compares each ad's priced clicks with the clicks
# acknowledged (PASS/FAIL lines; exit 1 on a failure). Everything started here is stopped at
# the end. Needs Python with confluent-kafka (compat/common.sh's venv has it).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BOOT="" SECONDS_RUN=30 RATE=200 CHECK=false RUNNEL=${RUNNEL_BIN:-$REPO/target/release/runnel}
PY=${PYTHON:-python3} WORK=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bootstrap) BOOT=$2; shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --check) CHECK=true; shift ;;
    --runnel) RUNNEL=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    *) echo "usage: $0 [--bootstrap HOST:PORT] [--seconds N] [--rate N] [--check] [--runnel BIN] [--python PY] [--work DIR]" >&2; exit 2 ;;
  esac
done
[[ -n $WORK ]] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/ad-clicks.XXXXXX")
mkdir -p "$WORK"
PIDS=()
cleanup() {
  # Newest first: the workers and the generator leave before the cluster stops.
  local reversed=() i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do reversed+=("${PIDS[i]}"); done
  for p in "${reversed[@]}"; do
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
}
trap cleanup EXIT
say() { echo "[$(date +%H:%M:%S)] $*"; }

if [[ -z $BOOT ]]; then
  base=$("$PY" -c 'import socket
for port in range(21000, 40000, 16):
    try:
        socks = [socket.socket() for _ in range(6)]
        for i, s in enumerate(socks): s.bind(("127.0.0.1", port + i))
        for s in socks: s.close()
        print(port); break
    except OSError:
        for s in socks: s.close()')
  say "starting runnel dev-cluster (3 nodes, clients on $base, $((base + 2)), $((base + 4)))"
  # runnel reads RUNNEL_* variables as configuration: the nodes get none of the caller's.
  unset_runnel=()
  while IFS='=' read -r name _; do [[ $name == RUNNEL_* ]] && unset_runnel+=(-u "$name"); done < <(env)
  env "${unset_runnel[@]}" "$RUNNEL" dev-cluster --base-port "$base" --http-base-port 0 --data "$WORK/cluster" \
    >"$WORK/cluster.log" 2>&1 &
  CLUSTER=$!
  PIDS+=($CLUSTER)
  BOOT="127.0.0.1:$base,127.0.0.1:$((base + 2)),127.0.0.1:$((base + 4))"
  up=false
  for _ in $(seq 1 60); do
    kill -0 "$CLUSTER" 2>/dev/null || break
    "$PY" -c "from confluent_kafka.admin import AdminClient; import sys
md = AdminClient({'bootstrap.servers': '$BOOT'}).list_topics(timeout=2)
sys.exit(0 if len(md.brokers) == 3 else 1)" 2>/dev/null && { up=true; break; }
    sleep 0.5
  done
  $up || { echo "FAIL ad_clicks.cluster_start: the dev-cluster did not come up: $(tail -3 "$WORK/cluster.log" | tr '\n' ' ')"; exit 1; }
fi
"$PY" "$HERE/prices.py" --bootstrap "$BOOT" setup || { echo "FAIL ad_clicks.setup: creating the topics on $BOOT"; exit 1; }

start_worker() {
  "$PY" "$HERE/pricer.py" --bootstrap "$BOOT" --worker "$1" >>"$WORK/worker-$1.log" 2>&1 &
  WORKER[$1]=$!
  PIDS+=($!)
}
declare -A WORKER
start_worker 1
start_worker 2
say "workers started; clicks for ${SECONDS_RUN} s at ${RATE}/s"
"$PY" "$HERE/clicks.py" --bootstrap "$BOOT" --rate "$RATE" --seconds "$SECONDS_RUN" --counts "$WORK/counts.json" \
  >"$WORK/clicks.log" 2>&1 &
CLICKS=$!
PIDS+=($CLICKS)
sleep "$(( SECONDS_RUN / 3 ))"
say "SIGKILL worker 1 (pid ${WORKER[1]}): its partitions move to worker 2"
kill -KILL "${WORKER[1]}"
sleep 12
say "worker 1 back"
start_worker 1
wait "$CLICKS"; clicks_status=$?
say "$(tail -1 "$WORK/clicks.log")"
status=0
if $CHECK; then
  [[ $clicks_status -eq 0 ]] && echo "PASS ad_clicks.clicks_acknowledged" \
    || { echo "FAIL ad_clicks.clicks_acknowledged: $(tail -2 "$WORK/clicks.log" | tr '\n' ' ')"; status=1; }
  "$PY" "$HERE/prices.py" --bootstrap "$BOOT" check --counts "$WORK/counts.json" || status=1
fi
say "prices now (examples/ad-clicks/prices.py --bootstrap $BOOT show):"
"$PY" "$HERE/prices.py" --bootstrap "$BOOT" show | head -20
exit $status
