# bench/kafka-compare/brokers.sh -- start/stop the two brokers bench/kafka-compare.sh compares
# (sourced, not executed).
#
# What this file owns:
#   * the command lines of the two brokers under test, both on loopback, both in fresh temp dirs:
#       bk_runnel_cmd DIR PORT        print (NUL-separated) `runnel serve` with listeners on PORT
#                                     and log.dirs=DIR/data
#       bk_kafka_prepare DIR PORT CPORT
#                                     write DIR/server.properties (KRaft combined, like
#                                     compat/kafka-tools.sh's reference broker but with Kafka's
#                                     defaults + $BENCH_BROKER_PROPS) and format a fresh
#                                     DIR/data with StorageTool (not timed)
#       bk_kafka_cmd DIR              print (NUL-separated) the JVM command of that broker, with
#                                     $BENCH_KAFKA_JVM_OPTS (Kafka's start-script defaults) and
#                                     the log4j2 config $BENCH_KAFKA_LOG4J (default: the quiet
#                                     WARN-to-stderr config of compat/kafka-tools.sh)
#   * bk_start NAME DIR PORT CPORT    start one broker (runnel|kafka) in the background; sets
#                                     BK_PID (the broker process itself, for /proc/PID/status)
#                                     and waits until it serves ApiVersions
#   * bk_stop PID                     SIGTERM, SIGKILL after 30 s
#   * bk_free_port                    a free TCP port on 127.0.0.1
#   * bk_client CLASS ARGS...         a Kafka Java tool with $BENCH_CLIENT_JVM_OPTS (the same JVM
#                                     flags against both brokers)
#
# Needs compat/kafka-tools.sh sourced first (KT_HOME, KT_LIB, kt_install, kt_run) and RUNNEL_BIN.

BENCH_KAFKA_JVM_OPTS=${BENCH_KAFKA_JVM_OPTS:--Xmx1g -Xms1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
BENCH_CLIENT_JVM_OPTS=${BENCH_CLIENT_JVM_OPTS:--Xmx512m}
# Broker settings given to both brokers alike (space-separated key=value). Everything else is
# each broker's default (e.g. offsets.topic.num.partitions=50 on both). Kafka's sample
# server.properties sets this one to 0 too; the default 3000 would add 3 s to every group join.
BENCH_BROKER_PROPS=${BENCH_BROKER_PROPS:-group.initial.rebalance.delay.ms=0}

bk_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bk_runnel_cmd() {
  local dir=$1 port=$2 v
  # runnel reads RUNNEL_* environment variables as configuration: run it without them.
  printf '%s\0' env
  for v in $(compgen -e | grep '^RUNNEL_'); do printf '%s\0' -u "$v"; done
  printf '%s\0' "$RUNNEL_BIN" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" \
    --override "log.dirs=$dir/data" --override "num.partitions=1" \
    --override "auto.create.topics.enable=true"
  for v in $BENCH_BROKER_PROPS; do printf '%s\0' --override "$v"; done
}

bk_kafka_prepare() {
  local dir=$1 port=$2 cport=$3 cid
  mkdir -p "$dir" && rm -rf "$dir/data" || return 1
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
$(tr ' ' '\n' <<< "$BENCH_BROKER_PROPS")
EOF
  cid=$(kt_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1) || return 1
  kt_run kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1
}

bk_kafka_cmd() {
  local dir=$1 opt
  printf '%s\0' java
  for opt in $BENCH_KAFKA_JVM_OPTS; do printf '%s\0' "$opt"; done
  printf '%s\0' "-Dlog4j2.configurationFile=${BENCH_KAFKA_LOG4J:-$KT_HOME/log4j2.properties}" -cp "$KT_LIB/*" \
    kafka.Kafka "$dir/server.properties"
}

# bk_wait_served PORT SECS [PID]: until an ApiVersions request is answered (or PID dies).
bk_wait_served() {
  local port=$1 secs=$2 pid=${3:-}
  python3 - "$port" "$secs" "$pid" <<'EOF'
import os, sys, time, importlib.util
spec = importlib.util.spec_from_file_location("probe", os.path.join(os.environ["BENCH_DIR"], "kafka-compare", "startup_probe.py"))
probe = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe)
port, secs, pid = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + secs
while time.monotonic() < deadline:
    if pid and not os.path.exists(f"/proc/{pid}"):
        sys.exit(1)
    try:
        if probe.probe_once(port, 1):
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
sys.exit(1)
EOF
}

# bk_start NAME DIR PORT CPORT: sets BK_PID.
bk_start() {
  local name=$1 dir=$2 port=$3 cport=$4 cmd=()
  mkdir -p "$dir"
  case "$name" in
    runnel) mapfile -d '' cmd < <(bk_runnel_cmd "$dir" "$port") ;;
    kafka)  bk_kafka_prepare "$dir" "$port" "$cport" || return 1
            mapfile -d '' cmd < <(bk_kafka_cmd "$dir") ;;
    *) return 2 ;;
  esac
  "${cmd[@]}" >"$dir/broker.log" 2>&1 </dev/null &
  BK_PID=$!
  BENCH_PIDS+=("$BK_PID")
  bk_wait_served "$port" 120 "$BK_PID" || { echo "$name did not start; see $dir/broker.log" >&2; return 1; }
}

bk_stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

bk_client() {
  local opts=()
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" -cp "$KT_LIB/*" "$@"
}
