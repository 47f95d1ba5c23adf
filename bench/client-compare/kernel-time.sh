#!/usr/bin/env bash
# bench/client-compare/kernel-time.sh -- where Runnel's broker CPU goes under the C client:
# three 1 GiB librdkafka produce runs to Runnel (1 partition) alternating with the same to Kafka
# 4.4.0, each broker in a fresh temp dir on loopback; per Runnel run it prints MiB/s, the
# broker's utime and stime (ticks of 10 ms, /proc/PID/stat), nr_dirty before the run and the
# direct-reclaim counters (/proc/vmstat). Run by hand after bench/client-compare.sh has built
# target/rdkafka-bench/rdkafka-bench (BENCH_CLIENT=rdkafka) and target/release/runnel.
# Loopback only; both brokers are stopped at the end.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
export BENCH_DIR=$REPO/bench
# shellcheck source=/dev/null
source compat/kafka-tools.sh; RUNNEL_BIN=target/release/runnel; BENCH_PIDS=()
# shellcheck source=/dev/null
source bench/kafka-compare/brokers.sh
kt_install >/dev/null || exit 1
B=target/rdkafka-bench/rdkafka-bench
rd=$(mktemp -d); kd=$(mktemp -d)
rp=$(bk_free_port)
env -u RUNNEL_LOG target/release/runnel serve --override log.dirs="$rd/data" \
  --override listeners="PLAINTEXT://127.0.0.1:$rp" > "$rd/log" 2>&1 & RPID=$!
trap 'kill "$RPID" 2>/dev/null; [[ -n ${KPID:-} ]] && bk_stop "$KPID"; rm -rf "$rd" "$kd"' EXIT
sleep 1
kp=$(bk_free_port); kc=$(bk_free_port)
bk_start kafka "$kd" "$kp" "$kc" || { echo "kafka did not start" >&2; [[ -n ${BK_PID:-} ]] && bk_stop "$BK_PID"; exit 1; }
KPID=$BK_PID
$B create -brokers 127.0.0.1:$rp -topic p1 -partitions 1 -timeout 60s >/dev/null
$B create -brokers 127.0.0.1:$kp -topic p1 -partitions 1 -timeout 60s >/dev/null
vm() { awk -v k="$1" '$1==k {print $2}' /proc/vmstat; }
st() { awk '{print $14, $15}' /proc/$RPID/stat; }
for rep in 1 2 3; do
  read u0 s0 < <(st); d0=$(vm nr_dirty); pd0=$(vm pgsteal_direct); ps0=$(vm pgscan_direct)
  line=$($B produce -brokers 127.0.0.1:$rp -topic p1 -records 1000000 -size 1024 -linger 5ms -timeout 120s)
  read u1 s1 < <(st); pd1=$(vm pgsteal_direct); ps1=$(vm pgscan_direct)
  echo "runnel r$rep: $(echo $line | grep -o 'mibps=[0-9.]*') utime $(( (u1-u0) ))t stime $(( (s1-s0) ))t (ticks of 10 ms); nr_dirty before ${d0} pages; pgscan_direct +$((ps1-ps0)) pgsteal_direct +$((pd1-pd0))"
  line=$($B produce -brokers 127.0.0.1:$kp -topic p1 -records 1000000 -size 1024 -linger 5ms -timeout 120s)
  echo "kafka  r$rep: $(echo $line | grep -o 'mibps=[0-9.]*')"
done

