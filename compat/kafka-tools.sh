#!/usr/bin/env bash
# compat/kafka-tools.sh -- real Apache Kafka tooling for Runnel's compatibility work.
#
# What this script owns:
#   * ${RUNNEL_CACHE:-$HOME/.cache/runnel}/kafka-${KT_KAFKA_VERSION}/
#       pom.xml            the Maven "bundle" pom used to resolve the jars
#       lib/*.jar          kafka-clients, kafka-tools, kafka_2.13 (the real broker), log4j2 + deps
#       log4j2.properties  quiet console logging (WARN, to stderr)
#       .installed         stamp written after a successful install (makes install idempotent)
#       extras/            kt_install_extras: its own pom.xml, .installed stamp and lib/ with
#                          connect-file, kafka-streams and rocksdbjni (the connect and streams
#                          suites)
#   * reference brokers it starts: each one lives in its own data dir (default: a fresh
#     mktemp dir) holding server.properties, data/, broker.log and broker.pid.
#
# Usage, executable:
#   compat/kafka-tools.sh install                 # resolve jars via Maven (no-op if done)
#   compat/kafka-tools.sh install-extras          # and the extras/ jars
#   compat/kafka-tools.sh classpath               # print the java classpath
#   compat/kafka-tools.sh run CLASS [ARGS...]     # run a Java main class with the jars
#                                                 # (KT_WITH_EXTRAS=1: the extras/ jars too)
#   compat/kafka-tools.sh broker-start [DIR]      # start a KRaft combined broker, print DIR
#   compat/kafka-tools.sh broker-stop DIR         # stop it (DIR is what broker-start printed)
#
# Usage, sourced (`source compat/kafka-tools.sh`): the same as functions
#   kt_install, kt_install_extras, kt_classpath, kt_run CLASS ARGS..., kt_broker_start [DIR],
#   kt_broker_stop DIR, kt_wait_port HOST PORT [SECONDS]
#
# Broker knobs (environment, read by kt_broker_start):
#   KT_BROKER_PORT      PLAINTEXT listener port          (default 19092)
#   KT_CONTROLLER_PORT  CONTROLLER listener port         (default 19093)
#   KT_ADVERTISED       advertised PLAINTEXT host:port   (default 127.0.0.1:$KT_BROKER_PORT;
#                       point it at a proxy to make clients go through the proxy)
#   KT_NUM_PARTITIONS   default partitions for auto-created topics (default 1)
#   KT_EXTRA_PROPS      extra server.properties lines (newline separated)
#   KT_HEAP             broker JVM -Xmx (default 768m); KT_JAVA_HEAP for kt_run (default 512m)
#   KT_OFFSETS_PARTITIONS  partitions of __consumer_offsets (default 1)
# Other knobs: RUNNEL_CACHE, KT_KAFKA_VERSION (4.4.0), KT_LOG4J_VERSION (2.25.3),
#   KT_SLF4J_VERSION (2.0.17), KT_CONNECT_FILE_VERSION (4.3.0), KT_MVN (mvn).
#
# Only loopback addresses are used. Requires java (17+) and mvn on PATH.

KT_KAFKA_VERSION="${KT_KAFKA_VERSION:-4.4.0}"
KT_LOG4J_VERSION="${KT_LOG4J_VERSION:-2.25.3}"
KT_SLF4J_VERSION="${KT_SLF4J_VERSION:-2.0.17}"
KT_CONNECT_FILE_VERSION="${KT_CONNECT_FILE_VERSION:-4.3.0}"
RUNNEL_CACHE="${RUNNEL_CACHE:-$HOME/.cache/runnel}"
KT_HOME="${KT_HOME:-$RUNNEL_CACHE/kafka-$KT_KAFKA_VERSION}"
KT_LIB="$KT_HOME/lib"
KT_EXTRAS_LIB="$KT_HOME/extras/lib"
KT_MVN="${KT_MVN:-mvn}"

kt_log() { printf '[kafka-tools] %s\n' "$*" >&2; }

kt_install() {
  local want="kafka=$KT_KAFKA_VERSION log4j=$KT_LOG4J_VERSION slf4j=$KT_SLF4J_VERSION"
  if [[ -f "$KT_HOME/.installed" && "$(head -1 "$KT_HOME/.installed")" == "$want" ]] && compgen -G "$KT_LIB/kafka_2.13-$KT_KAFKA_VERSION.jar" >/dev/null; then
    return 0
  fi
  command -v java >/dev/null || { kt_log "java not found"; return 1; }
  command -v "$KT_MVN" >/dev/null || { kt_log "mvn not found (apt-get install maven)"; return 1; }
  mkdir -p "$KT_HOME" || return 1
  cat > "$KT_HOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.runnel</groupId><artifactId>kafka-tools-bundle</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$KT_KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KT_KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KT_KAFKA_VERSION</version></dependency>
    <!-- kafka-clients pulls slf4j-api 1.7.x, which cannot see the slf4j2 log4j binding: pin 2.x -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$KT_SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$KT_LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$KT_LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  cat > "$KT_HOME/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
EOF
  kt_log "resolving Kafka $KT_KAFKA_VERSION jars into $KT_LIB (Maven)"
  rm -rf "$KT_LIB.tmp"
  (cd "$KT_HOME" && "$KT_MVN" -q -B -Dstyle.color=never dependency:copy-dependencies \
      -DoutputDirectory="$KT_LIB.tmp" -DincludeScope=runtime) || { kt_log "maven failed"; return 1; }
  rm -rf "$KT_LIB" && mv "$KT_LIB.tmp" "$KT_LIB" || return 1
  printf '%s\n%s\n' "$want" "$(date -u +%FT%TZ)" > "$KT_HOME/.installed"
  kt_log "installed $(ls "$KT_LIB" | wc -l) jars"
}

# kt_install_extras: after kt_install, the jars the connect and streams suites add to the base
# set: connect-file (FileStreamSource/FileStreamSink, not on Connect's default plugin path since
# Kafka 4.0; version KT_CONNECT_FILE_VERSION, 4.3.0: Maven Central has no connect-file 4.4.0,
# the 4.4.0 runtime loads the 4.3.0 plugin), kafka-streams and the rocksdbjni it depends on, at
# the version kafka-streams asks for. Only those artifacts are copied (all else they need is in lib/ already), so
# "$KT_LIB/*:$KT_EXTRAS_LIB/*" holds one copy of each jar. A separate folder and stamp leave the
# base lib/ as it was.
kt_install_extras() {
  kt_install || return 1
  local dir="$KT_HOME/extras" want="kafka=$KT_KAFKA_VERSION connect-file=$KT_CONNECT_FILE_VERSION streams,rocksdbjni"
  if [[ -f "$dir/.installed" && "$(head -1 "$dir/.installed")" == "$want" ]] \
     && compgen -G "$KT_EXTRAS_LIB/kafka-streams-$KT_KAFKA_VERSION.jar" >/dev/null \
     && compgen -G "$KT_EXTRAS_LIB/connect-file-$KT_CONNECT_FILE_VERSION.jar" >/dev/null; then
    return 0
  fi
  mkdir -p "$dir" || return 1
  cat > "$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.runnel</groupId><artifactId>kafka-extras-bundle</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-file</artifactId><version>$KT_CONNECT_FILE_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-streams</artifactId><version>$KT_KAFKA_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  kt_log "resolving connect-file $KT_CONNECT_FILE_VERSION, kafka-streams $KT_KAFKA_VERSION and rocksdbjni into $KT_EXTRAS_LIB (Maven)"
  rm -rf "$KT_EXTRAS_LIB.tmp"
  (cd "$dir" && "$KT_MVN" -q -B -Dstyle.color=never dependency:copy-dependencies \
      -DoutputDirectory="$KT_EXTRAS_LIB.tmp" -DincludeScope=runtime \
      -DincludeArtifactIds=connect-file,kafka-streams,rocksdbjni) || { kt_log "maven failed"; return 1; }
  rm -rf "$KT_EXTRAS_LIB" && mv "$KT_EXTRAS_LIB.tmp" "$KT_EXTRAS_LIB" || return 1
  printf '%s\n%s\n' "$want" "$(date -u +%FT%TZ)" > "$dir/.installed"
  kt_log "installed $(cd "$KT_EXTRAS_LIB" && echo *.jar)"
}

# kt_classpath: the base jars, and the extras too when KT_WITH_EXTRAS is set (non-empty).
kt_classpath() {
  kt_install >/dev/null || return 1
  if [[ -n "${KT_WITH_EXTRAS:-}" ]]; then
    kt_install_extras >/dev/null || return 1
    printf '%s/*:%s/*\n' "$KT_LIB" "$KT_EXTRAS_LIB"
  else
    printf '%s/*\n' "$KT_LIB"
  fi
}

# kt_run CLASS [ARGS...]: run a Java main class (or a single-file .java source) on the classpath
# (kt_classpath: with the extras when KT_WITH_EXTRAS is set).
# KT_QUICK_JVM=1 (compat/run.sh sets it): start faster (C1 only, serial GC), for the many
# short tool and client runs of the compat suites; never for measurements (bench/ leaves it unset).
kt_run() {
  local cp quick=()
  cp=$(kt_classpath) || return 1
  [[ "${KT_QUICK_JVM:-}" == 1 ]] && quick=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData)
  java "${quick[@]}" -Xmx"${KT_JAVA_HEAP:-512m}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
       -cp "$cp" "$@"
}

# kt_wait_port HOST PORT [SECONDS]: wait until a TCP connect succeeds.
kt_wait_port() {
  local host=$1 port=$2 secs=${3:-60} i
  for ((i = 0; i < secs * 4; i++)); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

# kt_broker_start [DIR]: start a real Apache Kafka broker (KRaft, broker+controller in one
# process) in DIR (created; default a new temp dir; DIR/data is wiped and formatted afresh).
# Prints DIR on stdout once the broker accepts connections. Stop it with kt_broker_stop DIR.
kt_broker_start() {
  kt_install >&2 || return 1
  local dir=${1:-} port=${KT_BROKER_PORT:-19092} cport=${KT_CONTROLLER_PORT:-19093}
  local adv=${KT_ADVERTISED:-127.0.0.1:${KT_BROKER_PORT:-19092}}
  [[ -n "$dir" ]] || dir=$(mktemp -d "${TMPDIR:-/tmp}/runnel-kafka-ref.XXXXXX") || return 1
  mkdir -p "$dir" || return 1
  if [[ -f "$dir/broker.pid" ]] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
    kt_log "broker already running in $dir (pid $(cat "$dir/broker.pid"))"; echo "$dir"; return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    kt_log "port $port is already in use"; return 1
  fi
  rm -rf "$dir/data"
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$adv
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=${KT_NUM_PARTITIONS:-1}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=${KT_OFFSETS_PARTITIONS:-1}
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
${KT_EXTRA_PROPS:-}
EOF
  local cid
  cid=$(kt_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1) || return 1
  kt_run kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || { kt_log "storage format failed, see $dir/format.log"; return 1; }
  # java is started directly (not through a function) so that $! is the JVM's own pid.
  java -Xmx"${KT_HEAP:-768m}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
       -cp "$KT_LIB/*" kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1 &
  echo $! > "$dir/broker.pid"
  if ! kt_wait_port 127.0.0.1 "$port" 120; then
    kt_log "broker did not come up, see $dir/broker.log"; kt_broker_stop "$dir"; return 1
  fi
  kt_log "broker pid $(cat "$dir/broker.pid") on 127.0.0.1:$port (advertises $adv), dir $dir"
  echo "$dir"
}

# kt_broker_stop DIR: stop the broker started in DIR (SIGTERM, then SIGKILL after 30 s).
kt_broker_stop() {
  local dir=$1 pid i
  [[ -f "$dir/broker.pid" ]] || { kt_log "no broker.pid in $dir"; return 0; }
  pid=$(cat "$dir/broker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for ((i = 0; i < 120; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && { kt_log "broker $pid ignored SIGTERM, killing"; kill -9 "$pid"; }
  fi
  rm -f "$dir/broker.pid"
}

# Executable mode.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cmd=${1:-}; shift || true
  case "$cmd" in
    install)      kt_install ;;
    install-extras) kt_install_extras ;;
    classpath)    kt_classpath ;;
    run)          kt_run "$@" ;;
    broker-start) kt_broker_start "$@" ;;
    broker-stop)  kt_broker_stop "$@" ;;
    *) sed -n '2,/^# Only loopback/p' "$0" >&2; exit 2 ;;
  esac
fi
