#!/usr/bin/env bash
# bench/tls-compare.sh -- produce and consume throughput over PLAINTEXT, SSL (TLS, server
# authentication only) and SASL_SSL (SCRAM-SHA-512), Runnel vs Apache Kafka 4.4.0 (single node),
# measured with Kafka's own ProducerPerformance and ConsumerPerformance and the same client flags
# against both brokers.
#
# What this script owns: this benchmark's procedure and knobs. The brokers' command lines, the
# client JVM and start/stop come from bench/kafka-compare/brokers.sh (sourced, not copied): Runnel
# is $RUNNEL_BIN serve (bk_runnel_cmd), Kafka is KRaft combined from the Maven Central jars of
# compat/kafka-tools.sh (bk_kafka_prepare, bk_kafka_cmd, Kafka's start-script JVM flags), each in
# a fresh dir under BENCH_OUT on free 127.0.0.1 ports. Both get the same three listeners and the
# same security settings (Kafka's config names), on top of what brokers.sh gives them:
#   listeners                  PLAINTEXT, SSL and SASL_SSL on 127.0.0.1 (Kafka: and its CONTROLLER)
#   ssl.keystore.type=PEM, ssl.keystore.location=BENCH_OUT/certs/broker.pem (key, cert, CA cert)
#   sasl.enabled.mechanisms and listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
#   listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=...ScramLoginModule required;
# The test PKI is compat/security/certs.sh's (P-256 keys, PKCS#8 PEM), made in BENCH_OUT/certs.
# The SCRAM user BENCH_SCRAM_USER is created on each broker with Kafka's ConfigCommand over its
# PLAINTEXT listener (iterations=4096); clients use a PEM trust store (ca.pem), host name
# verification on (the broker cert has SAN IP:127.0.0.1). Before measuring, every listener is
# checked with TopicCommand --list, and a wrong SCRAM password must be refused
# (SaslAuthenticationException); a broker failing a check is not measured.
#
# Procedure: both brokers up for the whole run. Each repetition, for each protocol (protocol order
# rotated every repetition), on a topic of its own (BENCH_PARTITIONS partitions, created and then
# deleted over PLAINTEXT):
#   produce  ProducerPerformance, BENCH_RECORDS records of BENCH_RECORD_SIZE bytes, acks=1 and
#            BENCH_PRODUCER_PROPS, through that protocol's listener, one broker then the other
#   consume  ConsumerPerformance of those BENCH_RECORDS records from the beginning (a new group),
#            through the same listener, one broker then the other
# Broker order alternates between repetitions. One tool runs at a time. Each run also records the
# broker's CPU seconds (/proc/PID/stat) and the client tool's (the shell's `times`) during it. A
# failed run is recorded as "n/a (reason)".
# The table (tls-compare/report.py): per protocol x measure, medians, Runnel / Kafka, each
# broker's SSL and SASL_SSL as % of its own PLAINTEXT, and the targets (Runnel >= 2x Kafka over
# SSL and SASL_SSL; Runnel's SSL >= 70% of its PLAINTEXT).
#
# Usage (from anywhere; run by hand, not by ./test.sh; ~10 minutes with the defaults; this script
# never builds):
#   RUNNEL_BIN=/path/to/runnel bench/tls-compare.sh
# Sourced, it makes BENCH_OUT, sets its exit trap and defines its functions, but measures nothing
# (for trying one step by hand).
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_RECORDS (1000000)  BENCH_RECORD_SIZE (1024)  BENCH_PARTITIONS (8)
#   BENCH_PRODUCER_PROPS ("linger.ms=5 batch.size=131072")   producer properties besides acks=1
#   BENCH_PROTOCOLS ("PLAINTEXT SSL SASL_SSL")   BENCH_BROKERS ("runnel kafka")
#   BENCH_SCRAM_USER (bench)  BENCH_SCRAM_PASSWORD (bench-secret)
#   BENCH_TOOL_TIMEOUT (600)    seconds before one tool run is killed (and reported n/a)
#   BENCH_BROKER_PROPS, BENCH_KAFKA_JVM_OPTS, BENCH_CLIENT_JVM_OPTS   as in kafka-compare/brokers.sh
#   BENCH_OUT (new /tmp dir)    certs/, logs/, results.tsv, table.md, meta.txt are kept there
#   BENCH_KEEP_DATA (0)         keep the brokers' data dirs (removed at exit otherwise)
#   RUNNEL_BIN (target/release/runnel)
# Loopback only. Everything started here is stopped at exit (trap); every wait is bounded.

set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_DIR
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../compat/kafka-tools.sh
source "$REPO/compat/kafka-tools.sh"
RUNNEL_BIN=${RUNNEL_BIN:-$REPO/target/release/runnel}
BENCH_PIDS=()
# shellcheck source=kafka-compare/brokers.sh
source "$BENCH_DIR/kafka-compare/brokers.sh"

COMMAND="$(env | grep -E '^(BENCH_[A-Z_]+|RUNNEL_BIN)=' | grep -v '^BENCH_DIR=' | sort | while IFS='=' read -r k v; do printf '%s=%q ' "$k" "$v"; done)bench/tls-compare.sh"
BENCH_REPS=${BENCH_REPS:-3}
BENCH_RECORDS=${BENCH_RECORDS:-1000000}
BENCH_RECORD_SIZE=${BENCH_RECORD_SIZE:-1024}
BENCH_PARTITIONS=${BENCH_PARTITIONS:-8}
BENCH_PRODUCER_PROPS=${BENCH_PRODUCER_PROPS:-linger.ms=5 batch.size=131072}
BENCH_PROTOCOLS=${BENCH_PROTOCOLS:-PLAINTEXT SSL SASL_SSL}
BENCH_BROKERS=${BENCH_BROKERS:-runnel kafka}
BENCH_SCRAM_USER=${BENCH_SCRAM_USER:-bench}
BENCH_SCRAM_PASSWORD=${BENCH_SCRAM_PASSWORD:-bench-secret}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-600}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-tls-compare.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
CERTS="$BENCH_OUT/certs"
: > "$RESULTS"

# The client tools run through bk_client (brokers.sh) in a child bash, so that `timeout` can
# bound them (it signals the whole process group, the JVM included).
export -f bk_client
export KT_HOME KT_LIB BENCH_CLIENT_JVM_OPTS

log() { printf '[tls %s] %s\n' "$(date +%T)" "$*" >&2; }
# record BROKER PROTOCOL METRIC REP VALUE (a number or "NA:reason")
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$RESULTS"; }
# why LOG: a short reason from a failed tool's output (first error-looking line).
why() {
  local line
  line=$(grep -m1 -E '^[a-z.]+\.[A-Za-z]*(Exception|Error)' "$1" 2>/dev/null)
  [[ -n "$line" ]] || line=$(grep -v 'Positional argument' "$1" 2>/dev/null | grep -m1 -E 'Exception|ERROR|WARNING|Error:|error')
  line=$(sed -E 's/^\[[^]]*\] //' <<< "$line" | tr '\t|' '  ' | cut -c1-160)
  printf '%s' "${line:-see $1}"
}
# cpu_ticks PID: user+system clock ticks of a process so far; ticks_s TICKS: in seconds.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
ticks_s() { awk -v t="$1" -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz}'; }
# cpu_stat: machine-wide "busy steal total" jiffies from /proc/stat.
cpu_stat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, $9, t}' /proc/stat; }
pct_of() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[f] - x[f]) / (y[3] - x[3]) }'; }

CLIENT_PID=
CLIENT_CPU=
# tool LOG CLASS ARGS...: a Kafka Java tool (bk_client), bounded by BENCH_TOOL_TIMEOUT. Sets
# CLIENT_CPU: the tool's user+system CPU seconds (the shell's waited-for children, `times`;
# called in this shell, not in a $(...) subshell, which would start from zero).
tool() {
  local out=$1 rc; shift
  times > "$BENCH_OUT/.times0"
  timeout -k 10 "$BENCH_TOOL_TIMEOUT" bash -c 'bk_client "$@"' bk_client "$@" > "$out" 2>&1 &
  CLIENT_PID=$!
  wait "$CLIENT_PID"; rc=$?
  CLIENT_PID=
  times > "$BENCH_OUT/.times1"
  CLIENT_CPU=$(awk 'FNR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
                               c[FILENAME == ARGV[1]] = t }
                    END { printf "%.2f", c[0] - c[1] }' "$BENCH_OUT/.times0" "$BENCH_OUT/.times1")
  return $rc
}

declare -A PID BOOT DIR

# client_config PROTOCOL: the client properties file for that listener (same for both brokers).
client_config() { printf '%s/client-%s.properties' "$BENCH_OUT" "$1"; }
write_client_configs() {
  local p
  for p in PLAINTEXT SSL SASL_SSL; do
    {
      echo "# Written by bench/tls-compare.sh"
      echo "security.protocol=$p"
      if [[ $p != PLAINTEXT ]]; then
        echo "ssl.truststore.type=PEM"
        echo "ssl.truststore.location=$CERTS/ca.pem"
      fi
      if [[ $p == SASL_SSL ]]; then
        echo "sasl.mechanism=SCRAM-SHA-512"
        echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$BENCH_SCRAM_USER\" password=\"$BENCH_SCRAM_PASSWORD\";"
      fi
    } > "$(client_config "$p")"
  done
}

# security_props PORT_PLAIN PORT_SSL PORT_SASL [CONTROLLER_PORT]: the listener and security
# settings both brokers get (one key=value per line; Kafka adds its CONTROLLER listener).
security_props() {
  local plain=$1 ssl=$2 sasl=$3 cport=${4:-} ctl='' ctlmap=''
  [[ -n "$cport" ]] && ctl=",CONTROLLER://127.0.0.1:$cport" ctlmap="CONTROLLER:PLAINTEXT,"
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$ssl,SASL_SSL://127.0.0.1:$sasl$ctl
advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$ssl,SASL_SSL://127.0.0.1:$sasl
listener.security.protocol.map=${ctlmap}PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
ssl.keystore.type=PEM
ssl.keystore.location=$CERTS/broker.pem
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
}

# broker_start NAME: start the broker with its three listeners, create the SCRAM user and check
# each listener with TopicCommand --list; sets PID, BOOT[NAME:PROTOCOL] and DIR.
broker_start() {
  local name=$1 dir="$BENCH_OUT/$1-run" plain ssl sasl cport cmd=() kv p i ok
  plain=$(bk_free_port); ssl=$(bk_free_port); sasl=$(bk_free_port); cport=$(bk_free_port)
  mkdir -p "$dir"
  case "$name" in
    runnel)
      mapfile -d '' cmd < <(bk_runnel_cmd "$dir" "$plain")
      # runnel: later --override flags win over bk_runnel_cmd's PLAINTEXT-only listeners.
      while IFS= read -r kv; do cmd+=(--override "$kv"); done < <(security_props "$plain" "$ssl" "$sasl")
      ;;
    kafka)
      bk_kafka_prepare "$dir" "$plain" "$cport" || { log "kafka: storage format failed (see $dir/format.log)"; return 1; }
      # java.util.Properties: a key given again later wins over bk_kafka_prepare's.
      { echo "# bench/tls-compare.sh: listeners and security"; security_props "$plain" "$ssl" "$sasl" "$cport"; } \
        >> "$dir/server.properties"
      mapfile -d '' cmd < <(bk_kafka_cmd "$dir")
      ;;
    *) return 2 ;;
  esac
  # As bk_start (brokers.sh) does, with the command line extended above.
  "${cmd[@]}" > "$dir/broker.log" 2>&1 < /dev/null &
  PID[$name]=$!
  BENCH_PIDS+=("${PID[$name]}")
  DIR[$name]=$dir
  BOOT[$name:PLAINTEXT]=127.0.0.1:$plain BOOT[$name:SSL]=127.0.0.1:$ssl BOOT[$name:SASL_SSL]=127.0.0.1:$sasl
  bk_wait_served "$plain" 120 "${PID[$name]}" || { log "$name did not start; see $dir/broker.log"; return 1; }
  if ! kt_wait_port 127.0.0.1 "$ssl" 30 || ! kt_wait_port 127.0.0.1 "$sasl" 30; then
    log "$name: SSL/SASL_SSL listeners not up; see $dir/broker.log"; return 1
  fi
  log "$name serving PLAINTEXT $plain, SSL $ssl, SASL_SSL $sasl (pid ${PID[$name]}, dir $dir)"
  tool "$BENCH_OUT/logs/$name-scram-user.log" org.apache.kafka.tools.ConfigCommand \
    --bootstrap-server "${BOOT[$name:PLAINTEXT]}" --alter --entity-type users --entity-name "$BENCH_SCRAM_USER" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$BENCH_SCRAM_PASSWORD]" \
    || { log "$name: creating the SCRAM user failed: $(why "$BENCH_OUT/logs/$name-scram-user.log")"; return 1; }
  for p in $BENCH_PROTOCOLS; do
    ok=0
    for ((i = 1; i <= 5; i++)); do
      if tool "$BENCH_OUT/logs/$name-check-$p.log" org.apache.kafka.tools.TopicCommand \
           --bootstrap-server "${BOOT[$name:$p]}" --command-config "$(client_config "$p")" --list; then ok=1; break; fi
      sleep 1
    done
    (( ok )) || { log "$name: $p listener check failed: $(why "$BENCH_OUT/logs/$name-check-$p.log")"; return 1; }
  done
  # SASL_SSL must really authenticate: a wrong password is refused.
  sed "s/password=\"$BENCH_SCRAM_PASSWORD\"/password=\"wrong-$BENCH_SCRAM_PASSWORD\"/" "$(client_config SASL_SSL)" \
    > "$BENCH_OUT/client-SASL_SSL-wrong.properties"
  if BENCH_TOOL_TIMEOUT=60 tool "$BENCH_OUT/logs/$name-check-wrong-password.log" org.apache.kafka.tools.TopicCommand \
       --bootstrap-server "${BOOT[$name:SASL_SSL]}" --command-config "$BENCH_OUT/client-SASL_SSL-wrong.properties" --list \
     || ! grep -q 'SaslAuthenticationException' "$BENCH_OUT/logs/$name-check-wrong-password.log"; then
    log "$name: a wrong SCRAM password was not refused with SaslAuthenticationException"; return 1
  fi
  # The TLS session a client gets (protocol version and cipher suite), for meta.txt.
  echo "$name TLS: $(timeout 10 openssl s_client -connect "${BOOT[$name:SSL]}" -CAfile "$CERTS/ca.pem" -brief < /dev/null 2>&1 \
    | grep -E '^(Protocol version|Ciphersuite|Peer Temp Key|Verification)' | tr '\n' ';' | tr -s ' ')" >> "$BENCH_OUT/meta.txt"
}

topic_cmd() { # NAME LOG ARGS...: TopicCommand over the broker's PLAINTEXT listener
  local name=$1 out=$2; shift 2
  tool "$out" org.apache.kafka.tools.TopicCommand --bootstrap-server "${BOOT[$name:PLAINTEXT]}" "$@"
}

run_produce() { # NAME PROTOCOL REP TOPIC
  local name=$1 proto=$2 rep=$3 topic=$4 out="$BENCH_OUT/logs/$1-$2-produce-r$3.log" props=() line sent mbs bad c0 c1 rc cpu
  read -r -a props <<< "$BENCH_PRODUCER_PROPS"
  c0=$(cpu_ticks "${PID[$name]}")
  tool "$out" org.apache.kafka.tools.ProducerPerformance --bootstrap-server "${BOOT[$name:$proto]}" \
    --topic "$topic" --num-records "$BENCH_RECORDS" --record-size "$BENCH_RECORD_SIZE" --throughput -1 \
    --command-config "$(client_config "$proto")" --command-property acks=1 "${props[@]}"
  rc=$? cpu=$CLIENT_CPU
  c1=$(cpu_ticks "${PID[$name]}")
  line=$(grep '50th' "$out" | tail -1)
  bad=$(grep -m1 -E '^(org\.apache\.kafka|java\.)[A-Za-z0-9_.$]*(Exception|Error)' "$out")
  sent=$(awk '{print $1}' <<< "$line")
  mbs=$(sed -nE 's/.*records\/sec \(([0-9.]+) MB\/sec\).*/\1/p' <<< "$line")
  if [[ $rc -ne 0 || -z "$mbs" || "$sent" != "$BENCH_RECORDS" || -n "$bad" ]]; then
    record "$name" "$proto" produce "$rep" "NA:exit $rc: ${bad:-$(why "$out")}"; log "$name $proto produce r$rep: failed ($out)"
  else
    record "$name" "$proto" produce "$rep" "$mbs"
    record "$name" "$proto" produce_cpu "$rep" "$(ticks_s $((c1 - c0)))"
    record "$name" "$proto" produce_client_cpu "$rep" "$cpu"
    log "$name $proto produce r$rep: $mbs MB/s (CPU s: broker $(ticks_s $((c1 - c0))), client $cpu)"
  fi
}

run_consume() { # NAME PROTOCOL REP TOPIC
  local name=$1 proto=$2 rep=$3 topic=$4 out="$BENCH_OUT/logs/$1-$2-consume-r$3.log" line n mbs fmbs c0 c1 rc cpu
  c0=$(cpu_ticks "${PID[$name]}")
  tool "$out" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "${BOOT[$name:$proto]}" \
    --topic "$topic" --num-records "$BENCH_RECORDS" --timeout 30000 --group "bench-$proto-r$rep-$RANDOM" \
    --command-config "$(client_config "$proto")"
  rc=$? cpu=$CLIENT_CPU
  c1=$(cpu_ticks "${PID[$name]}")
  # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
  # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  line=$(grep -E '^[0-9]{4}-.*,.*,' "$out" | tail -1)
  IFS=',' read -r _ _ _ mbs n _ _ _ fmbs _ <<< "$line"
  n=${n// /}; mbs=${mbs// /}; fmbs=${fmbs// /}
  if [[ $rc -ne 0 || -z "$line" || "${n:-0}" -lt "$BENCH_RECORDS" ]]; then
    local reason
    reason="exit $rc, consumed ${n:-0}/$BENCH_RECORDS: $(why "$out")"
    record "$name" "$proto" consume "$rep" "NA:$reason"; record "$name" "$proto" consume_fetch "$rep" "NA:$reason"
    log "$name $proto consume r$rep: failed: $reason"
  else
    record "$name" "$proto" consume "$rep" "$mbs"; record "$name" "$proto" consume_fetch "$rep" "$fmbs"
    record "$name" "$proto" consume_cpu "$rep" "$(ticks_s $((c1 - c0)))"
    record "$name" "$proto" consume_client_cpu "$rep" "$cpu"
    log "$name $proto consume r$rep: $mbs MB/s ($fmbs MB/s fetch only; CPU s: broker $(ticks_s $((c1 - c0))), client $cpu)"
  fi
}

cleanup() {
  local pid
  trap - EXIT INT TERM
  [[ -n "$CLIENT_PID" ]] && kill -TERM "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do bk_stop "$pid"; done
  if [[ "$BENCH_KEEP_DATA" != 1 ]]; then
    local name; for name in "${DIR[@]}"; do rm -rf "$name/data"; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
  local started=$SECONDS rep name proto order protos up=() topic cpu0 cpu1 i
  if [[ " $BENCH_BROKERS " == *" runnel "* && ! -x "$RUNNEL_BIN" ]]; then
    log "no Runnel binary at $RUNNEL_BIN (set RUNNEL_BIN; this script does not build)"; exit 1
  fi
  command -v openssl > /dev/null || { log "openssl not found (compat/security/certs.sh needs it)"; exit 1; }
  kt_install || exit 1
  "$REPO/compat/security/certs.sh" "$CERTS" > "$BENCH_OUT/logs/certs.log" 2>&1 || { log "certs.sh failed"; exit 1; }
  write_client_configs
  {
    echo "command: $COMMAND"
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel: $RUNNEL_BIN ($(stat -c '%y' "$RUNNEL_BIN" 2>/dev/null | cut -d. -f1), sha256 $(sha256sum "$RUNNEL_BIN" 2>/dev/null | cut -c1-12)); repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "uptime at start: $(uptime)"
    echo "java: $(java -version 2>&1 | head -1); client JVM $BENCH_CLIENT_JVM_OPTS; kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    echo "broker settings (both, besides listeners and security): $BENCH_BROKER_PROPS"
    echo "workload: $BENCH_RECORDS records x $BENCH_RECORD_SIZE B, $BENCH_PARTITIONS partitions, acks=1 $BENCH_PRODUCER_PROPS; protocols $BENCH_PROTOCOLS; reps $BENCH_REPS; SASL: SCRAM-SHA-512 (iterations 4096)"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2

  for name in $BENCH_BROKERS; do
    if broker_start "$name"; then up+=("$name"); else
      for proto in $BENCH_PROTOCOLS; do record "$name" "$proto" produce 0 "NA:broker did not start"; done
    fi
  done
  [[ ${#up[@]} -gt 0 ]] || { log "no broker started"; exit 1; }
  read -r -a protos <<< "$BENCH_PROTOCOLS"
  cpu0=$(cpu_stat)
  for ((rep = 1; rep <= BENCH_REPS; rep++)); do
    order=("${up[@]}")
    (( rep % 2 == 0 )) && mapfile -t order < <(printf '%s\n' "${up[@]}" | tac)
    record machine - load1 "$rep" "$(cut -d' ' -f1 /proc/loadavg)"
    for ((i = 0; i < ${#protos[@]}; i++)); do
      proto=${protos[$(((i + rep - 1) % ${#protos[@]}))]}
      topic="tls-${proto,,}-r$rep"
      for name in "${order[@]}"; do
        topic_cmd "$name" "$BENCH_OUT/logs/$name-topics.log" --create --topic "$topic" \
          --partitions "$BENCH_PARTITIONS" --replication-factor 1 \
          || log "$name: creating $topic failed: $(why "$BENCH_OUT/logs/$name-topics.log")"
      done
      for name in "${order[@]}"; do run_produce "$name" "$proto" "$rep" "$topic"; done
      for name in "${order[@]}"; do run_consume "$name" "$proto" "$rep" "$topic"; done
      # The next runs write fresh topics; drop this one (disk space, page cache).
      for name in "${order[@]}"; do
        topic_cmd "$name" "$BENCH_OUT/logs/$name-topics.log" --delete --topic "$topic" \
          || log "$name: deleting $topic failed (ignored)"
      done
    done
    log "repetition $rep done (load $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - started)) s)"
  done
  cpu1=$(cpu_stat)
  for name in "${up[@]}"; do
    kill -0 "${PID[$name]}" 2>/dev/null || echo "WARNING: $name (pid ${PID[$name]}) was not running at the end" >> "$BENCH_OUT/meta.txt"
    record "$name" - rss_peak_mib 0 "$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/${PID[$name]}/status" 2>/dev/null)"
    bk_stop "${PID[$name]}"
    cp "${DIR[$name]}/broker.log" "$BENCH_OUT/logs/$name.broker.log" 2>/dev/null
  done
  echo "uptime at end: $(uptime); both cores $(pct_of "$cpu0" "$cpu1" 1)% busy and $(pct_of "$cpu0" "$cpu1" 2)% stolen over the measurements; wall time $((SECONDS - started)) s" >> "$BENCH_OUT/meta.txt"
  python3 "$BENCH_DIR/tls-compare/report.py" "$RESULTS" > "$BENCH_OUT/table.md"
  echo
  cat "$BENCH_OUT/meta.txt"
  echo
  cat "$BENCH_OUT/table.md"
  echo
  echo "raw results and tool logs: $BENCH_OUT"
}

# Sourced (e.g. to run one step by hand): the functions only.
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"
