#!/usr/bin/env bash
# bench/lib/clusters.sh -- three-node clusters on 127.0.0.1 for the side-by-side benchmarks
# (sourced by bench/cluster-compare.sh and bench/reassign-compare.sh).
#
# What it owns: `start_cluster NAME [EXTRA_RUNNEL_OVERRIDES...]` starts three combined
# broker+controller nodes of Runnel (NAME=runnel) or Apache Kafka 4.4.0 (NAME=kafka) with
# distinct free ports and dirs under $OUT, appends their pids to PIDS, sets BOOT_<NAME> to the
# bootstrap list and waits for their ports. Needs OUT, PIDS, RUNNEL_BIN and compat/kafka-tools.sh
# sourced (kt_run, kt_wait_port, KT_HOME, KT_LIB); BENCH_KAFKA_HEAP sizes Kafka's heap (768m).
# Callers stop the pids.

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_cluster NAME [--override k=v ...]: three nodes; sets BOOT_<NAME>
start_cluster() {
  local name=$1 i voters="" boot="" cps=() kps=(); shift
  local extra=("$@")
  for i in 1 2 3; do cps[$i]=$(port); kps[$i]=$(port); voters+="${voters:+,}$i@127.0.0.1:${kps[$i]}"; boot+="${boot:+,}127.0.0.1:${cps[$i]}"; done
  local cid=""
  [[ $name == kafka ]] && cid=$(kt_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for i in 1 2 3; do
    local dir="$OUT/$name-$i"; mkdir -p "$dir"
    if [[ $name == runnel ]]; then
      "$RUNNEL_BIN" serve --override node.id=$i --override controller.quorum.voters="$voters" \
        --override listeners="PLAINTEXT://127.0.0.1:${cps[$i]},CONTROLLER://127.0.0.1:${kps[$i]}" \
        --override log.dirs="$dir/data" --override offsets.topic.replication.factor=3 \
        "${extra[@]}" >"$dir/log" 2>&1 &
      PIDS+=($!)
    else
      cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${cps[$i]},CONTROLLER://127.0.0.1:${kps[$i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
EOF
      kt_run kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1 || return 1
      java -Xmx"${BENCH_KAFKA_HEAP:-768m}" -Xms"${BENCH_KAFKA_HEAP:-768m}" -XX:+UseG1GC \
        -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" -cp "$KT_LIB/*" kafka.Kafka "$dir/server.properties" >"$dir/log" 2>&1 &
      PIDS+=($!)
    fi
  done
  printf -v "BOOT_$name" '%s' "$boot"
  for i in 1 2 3; do kt_wait_port 127.0.0.1 "${cps[$i]}" 90 || return 1; done
}

