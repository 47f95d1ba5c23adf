#!/usr/bin/env bash
# compat/schema-registry/run.sh -- a real schema registry keeping its schemas in a compacted
# Kafka topic on Runnel. Owns the "schema-registry" suite of compat/run.sh. Starts, stops and
# restarts its own broker and registry.
#
#   compat/schema-registry/run.sh RUNNEL_BIN WORK_DIR
#
# The registry is Apicurio Registry $APICURIO_VERSION (3.0.9; compat/common.sh:
# rn_install_apicurio, from Maven Central) with its KafkaSQL storage
# (apicurio.storage.kind=kafkasql): every change is a keyed record in the journal topic
# `kafkasql-journal`, which the registry creates itself (with cleanup.policy=compact, set through
# its apicurio.kafkasql.topic.* topic properties); at start it replays the topic into an
# in-memory H2 database, so after a restart everything it serves comes from the topic. The
# suite talks to its Confluent-compatible API (/apis/ccompat/v7) with curl.
#
# Cases (each prints `PASS name` / `FAIL name: why`):
#   registry.start                the registry is ready on KafkaSQL storage
#   topic.journal_compacted       kafkasql-journal exists with cleanup.policy=compact (ConfigCommand)
#   register.v1, config.backward, evolve.compatible, evolve.incompatible_checked,
#   evolve.incompatible_refused, register.v2, register.distinct_ids, register.v1_again_same_id
#                                 register an Avro record schema, set BACKWARD (the registry's
#                                 default is NONE), check a new field with a default is
#                                 compatible and a new field without one is not, and refused
#                                 (409); register the compatible one (a new id), and get v1's id
#                                 back for v1
#   fetch.<what>                  by id, by subject/version, latest, versions, subjects, config
#   topic.journal_holds_schemas   the journal topic, read back with ConsoleConsumer, holds both
#                                 schema versions, every record with a key
#   restart.*                     registry stopped, broker stopped (exit 0) and started again on
#                                 the same port and log dir, registry started again: every fetch
#                                 gives the same status and body as before, the topic is still
#                                 compacted, the rule still refuses, a new version gets a new id
#   broker.sigterm_exit_0         the final broker stop
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: run.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: run.sh RUNNEL_BIN WORK_DIR}
mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/cases.log"
SR_JAR="$APICURIO_HOME/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
SR_PID='' SR_PORT='' SR_RUN=0
SUBJECT=users-value
JOURNAL=kafkasql-journal

stop_all() {
  [[ -n "$SR_PID" ]] && kill -9 "$SR_PID" 2>/dev/null
  [[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null
}
trap stop_all EXIT
trap 'exit 143' TERM INT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
oneline() { tr '\n' ' ' <<<"$1" | cut -c1-300; }

# Avro schemas: v1, v2 = v1 + an optional field with a default (BACKWARD compatible), bad = v1 +
# a field without a default (not BACKWARD compatible: v1 data has no value for it).
fields='{"name":"id","type":"long"},{"name":"name","type":"string"}'
avro() { printf '{"type":"record","name":"User","namespace":"runnel.compat","fields":[%s]}' "$1"; }
V1=$(avro "$fields")
V2=$(avro "$fields"',{"name":"email","type":["null","string"],"default":null}')
BAD=$(avro "$fields"',{"name":"age","type":"int"}')
V3=$(avro "$fields"',{"name":"email","type":["null","string"],"default":null},{"name":"tier","type":"string","default":"free"}')
# body SCHEMA: the JSON request body {"schema": "<schema as a JSON string>"}
body() { python3 -c 'import json,sys; print(json.dumps({"schema": sys.argv[1]}))' "$1"; }

# http METHOD PATH [BODY]: prints `STATUS BODY` (STATUS 000 when there is no answer), bounded.
http() {
  local method=$1 path=$2 data=${3:-} args=()
  [[ -n "$data" ]] && args=(-H 'Content-Type: application/vnd.schemaregistry.v1+json' --data-binary "$data")
  local out
  out=$(curl -sS -m 30 -X "$method" ${args[@]+"${args[@]}"} -w '\n%{http_code}' \
        "http://127.0.0.1:$SR_PORT/apis/ccompat/v7$path" 2>&1)
  printf '%s %s\n' "${out##*$'\n'}" "${out%$'\n'*}"
  printf '%s %s -> %s\n' "$method" "$path" "$out" >>"$RN_SUITE_LOG"
}
# json_field JSON KEY: print KEY of a JSON object (empty when absent or not JSON).
json_field() {
  python3 -c 'import json,sys
try: v = json.loads(sys.argv[1]).get(sys.argv[2], "")
except Exception: v = ""
print(json.dumps(v) if isinstance(v, (list, dict)) else v)' "$1" "$2"
}

# sr_start: start the registry on the broker ($RN_BOOTSTRAP); wait (<= 150 s) until it is ready.
# Sets SR_PID, SR_PORT; on failure SR_ERR says why. Not to be called in a subshell.
SR_ERR=
sr_start() {
  SR_RUN=$((SR_RUN + 1))
  SR_PORT=$(rn_free_port)
  local log="$WORK/registry-$SR_RUN.log" i
  # Run from WORK so whatever the registry writes in its working directory stays there.
  cd "$WORK" || return 1
  java -Xmx512m \
       -Dapicurio.storage.kind=kafkasql \
       -Dapicurio.kafkasql.bootstrap.servers="$RN_BOOTSTRAP" \
       -Dapicurio.kafkasql.topic.cleanup.policy=compact \
       -Dapicurio.storage.snapshot.location="$WORK" \
       -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$SR_PORT" \
       -jar "$SR_JAR" >"$log" 2>&1 &
  SR_PID=$!
  cd - >/dev/null || return 1
  for ((i = 0; i < 300; i++)); do
    if [[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SR_PORT/health/ready") == 200 ]] \
       && grep -q 'KafkaSQL storage bootstrapped' "$log"; then
      return 0
    fi
    if ! kill -0 "$SR_PID" 2>/dev/null; then
      wait "$SR_PID" 2>/dev/null; SR_PID=
      SR_ERR="the registry exited: $({ grep -E 'ERROR|Exception|Error' "$log" || tail -2 "$log"; } | head -2 | tr '\n' ' ' | cut -c1-250)"
      return 1
    fi
    sleep 0.5
  done
  SR_ERR="not ready within 150 s (see $log)"
  return 1
}

# sr_stop: SIGTERM the registry, SIGKILL after 30 s.
sr_stop() {
  [[ -n "$SR_PID" ]] || return 0
  local i
  kill -TERM "$SR_PID" 2>/dev/null
  for ((i = 0; i < 300; i++)); do kill -0 "$SR_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SR_PID" 2>/dev/null; then
    rn_log "registry $SR_PID still running 30 s after SIGTERM; killing it"
    kill -9 "$SR_PID" 2>/dev/null
  fi
  wait "$SR_PID" 2>/dev/null
  SR_PID=
}

# config_of TOPIC: the topic's configs as ConfigCommand describes them (--all: defaults too).
CONFIG=kafka.admin.ConfigCommand
for j in "$KT_LIB"/kafka-tools-*.jar; do   # ConfigCommand is in kafka-tools from 4.x
  python3 -c 'import sys, zipfile; sys.exit("org/apache/kafka/tools/ConfigCommand.class" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$j" 2>/dev/null \
    && CONFIG=org.apache.kafka.tools.ConfigCommand
done
config_of() {
  timeout 90 "$HERE/../kafka-tools.sh" run "$CONFIG" --bootstrap-server "$RN_BOOTSTRAP" \
    --describe --entity-type topics --entity-name "$1" 2>>"$RN_SUITE_LOG"
}
check_compacted() {
  local name=$1 out
  out=$(config_of "$JOURNAL")
  printf 'ConfigCommand %s:\n%s\n' "$JOURNAL" "$out" >>"$RN_SUITE_LOG"
  if grep -q '^ *cleanup.policy=compact ' <<<"$out"; then pass "$name"; else fail "$name" "$(oneline "$out")"; fi
}

# expect NAME WANT_STATUS REGEX METHOD PATH [BODY]: status and a body matching REGEX (ERE);
# the body is left in $BODY.
BODY=
expect() {
  local name=$1 want=$2 re=$3; shift 3
  local got status
  got=$(http "$@")
  status=${got%% *} BODY=${got#* }
  if [[ $status == "$want" ]] && grep -Eq -- "$re" <<<"$BODY"; then pass "$name"
  else fail "$name" "$1 $2: HTTP $status (want $want, /$re/): $(oneline "$BODY")"; fi
}

# The GETs whose answers must survive the restarts unchanged: name and path.
FETCHES=(
  "schema_by_id_v1" "/schemas/ids/ID1"
  "schema_by_id_v2" "/schemas/ids/ID2"
  "subject_version_1" "/subjects/$SUBJECT/versions/1"
  "subject_version_2" "/subjects/$SUBJECT/versions/2"
  "subject_latest" "/subjects/$SUBJECT/versions/latest"
  "subject_versions" "/subjects/$SUBJECT/versions"
  "subjects" "/subjects"
  "subject_config" "/config/$SUBJECT"
)
# snapshot FILE: every fetch's `STATUS BODY`, one per line (ID1/ID2 replaced by the ids).
snapshot() {
  local i path
  : >"$1"
  for ((i = 0; i < ${#FETCHES[@]}; i += 2)); do
    path=${FETCHES[i + 1]//ID1/$ID1}
    path=${path//ID2/$ID2}
    printf '%s\t%s\n' "${FETCHES[i]}" "$(http GET "$path")" >>"$1"
  done
}

# 1. Broker and registry.
# Segments roll every second and the cleaner looks every 500 ms: the journal is compacted.
if ! rn_broker_start "$WORK/broker" log.roll.ms=1000 log.cleaner.backoff.ms=500; then fail broker_start "see $WORK/broker/broker.log"; exit 1; fi
if sr_start; then pass registry.start
else fail registry.start "$SR_ERR"; exit 1; fi
check_compacted topic.journal_compacted

# 2. Register, set BACKWARD, evolve.
expect register.v1 200 '^\{"id":[0-9]+\}$' POST "/subjects/$SUBJECT/versions" "$(body "$V1")"
ID1=$(json_field "$BODY" id)
expect config.backward 200 '"compatibility(Level)?":"BACKWARD"' PUT "/config/$SUBJECT" '{"compatibility":"BACKWARD"}'
expect evolve.compatible 200 '"is_compatible":true' POST "/compatibility/subjects/$SUBJECT/versions/latest" "$(body "$V2")"
expect evolve.incompatible_checked 200 '"is_compatible":false' POST "/compatibility/subjects/$SUBJECT/versions/latest" "$(body "$BAD")"
expect evolve.incompatible_refused 409 '"error_code":409' POST "/subjects/$SUBJECT/versions" "$(body "$BAD")"
expect register.v2 200 '^\{"id":[0-9]+\}$' POST "/subjects/$SUBJECT/versions" "$(body "$V2")"
ID2=$(json_field "$BODY" id)
if [[ -n $ID1 && -n $ID2 && $ID1 != "$ID2" ]]; then pass register.distinct_ids
else fail register.distinct_ids "v1 id '$ID1', v2 id '$ID2'"; fi
expect register.v1_again_same_id 200 "^\\{\"id\":$ID1\\}\$" POST "/subjects/$SUBJECT/versions" "$(body "$V1")"

# 3. Fetch everything: contents checked once here, then compared after the restarts.
[[ -n $ID1 ]] || ID1=1
[[ -n $ID2 ]] || ID2=2
snapshot "$WORK/answers-before.txt"
# check_fetch NAME REGEX: the snapshot line NAME has status 200 and a body matching REGEX.
check_fetch() {
  local line
  line=$(awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$WORK/answers-before.txt")
  if [[ ${line%% *} == 200 ]] && grep -Eq -- "$2" <<<"${line#* }"; then pass "fetch.$1"
  else fail "fetch.$1" "$(oneline "$line")"; fi
}
# A schema comes back as a JSON string of the canonical text; match field names inside it.
check_fetch schema_by_id_v1 '"schema":"\{.*\\"name\\":\\"name\\"'
check_fetch schema_by_id_v2 '"schema":"\{.*\\"name\\":\\"email\\".*\\"default\\":null'
check_fetch subject_version_1 "\"subject\":\"$SUBJECT\",\"version\":1,\"id\":$ID1,"
check_fetch subject_version_2 "\"subject\":\"$SUBJECT\",\"version\":2,\"id\":$ID2,"
check_fetch subject_latest "\"version\":2,\"id\":$ID2,"
check_fetch subject_versions '^\[1,2\]$'
check_fetch subjects "^\\[\"$SUBJECT\"\\]\$"
check_fetch subject_config '"compatibility(Level)?":"BACKWARD"'

# The journal as a Kafka client sees it: GetOffsetShell for its end, ConsoleConsumer to read it.
kt() { timeout 90 "$HERE/../kafka-tools.sh" run "$@" 2>>"$RN_SUITE_LOG"; }
end=$(kt org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$RN_BOOTSTRAP" --topic "$JOURNAL" --time -1 \
      | awk -F: -v t="$JOURNAL" '$1 == t && $2 == 0 { print $3 }')
journal=
if [[ $end =~ ^[0-9]+$ && $end -gt 0 ]]; then
  journal=$(kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$RN_BOOTSTRAP" \
            --topic "$JOURNAL" --partition 0 --offset earliest --max-messages "$end" --timeout-ms 30000 \
            --formatter-property print.key=true --formatter-property key.separator=$'\t')
fi
printf 'journal (end offset %s):\n%s\n' "$end" "$journal" >>"$RN_SUITE_LOG"
records=$(grep -c . <<<"$journal")
keyless=$(awk -F'\t' 'NF < 2 || $1 == "" || $1 == "null"' <<<"$journal" | grep -c .)
if [[ $records -eq $end && $keyless -eq 0 ]] \
   && grep -q '"messageType":"CreateArtifact[0-9]*Message".*"artifactId":"users-value".*runnel.compat' <<<"$journal" \
   && grep -q '"messageType":"CreateArtifactVersion[0-9]*Message".*"artifactId":"users-value".*\\"email\\"' <<<"$journal"; then
  pass topic.journal_holds_schemas
else
  fail topic.journal_holds_schemas "end offset '$end', $records records read, $keyless without a key: $(oneline "$journal" | cut -c1-200)"
fi

# 4. Stop the registry, restart the broker on the same port and log dir, start the registry.
sr_stop
if rn_broker_stop 2>>"$RN_SUITE_LOG"; then pass restart.broker_stop_exit_0
else fail restart.broker_stop_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $WORK/broker/broker.log)"; fi
if ! rn_broker_restart "$WORK/broker" log.roll.ms=1000 log.cleaner.backoff.ms=500; then fail restart.broker_start "see $WORK/broker/broker.log"; exit 1; fi
pass restart.broker_start
if sr_start; then pass restart.registry_start
else fail restart.registry_start "$SR_ERR"; exit 1; fi
if grep -q 'Created new topic: kafkasql-journal' "$WORK/registry-$SR_RUN.log"; then
  fail restart.journal_kept "the registry had to create $JOURNAL again (see $WORK/registry-$SR_RUN.log)"
else pass restart.journal_kept; fi
check_compacted restart.topic_still_compacted

# 5. The same answers, the same rule, and ids continue.
snapshot "$WORK/answers-after.txt"
for ((i = 0; i < ${#FETCHES[@]}; i += 2)); do
  n=${FETCHES[i]}
  before=$(awk -F'\t' -v n="$n" '$1 == n { print $2 }' "$WORK/answers-before.txt")
  after=$(awk -F'\t' -v n="$n" '$1 == n { print $2 }' "$WORK/answers-after.txt")
  if [[ $before == "$after" && ${after%% *} == 200 ]]; then pass "restart.fetch.$n"
  else fail "restart.fetch.$n" "before: $(oneline "$before" | cut -c1-140) after: $(oneline "$after" | cut -c1-140)"; fi
done
expect restart.incompatible_refused 409 '"error_code":409' POST "/subjects/$SUBJECT/versions" "$(body "$BAD")"
expect restart.v1_again_same_id 200 "^\\{\"id\":$ID1\\}\$" POST "/subjects/$SUBJECT/versions" "$(body "$V1")"
expect restart.register_v3 200 '^\{"id":[0-9]+\}$' POST "/subjects/$SUBJECT/versions" "$(body "$V3")"
ID3=$(json_field "$BODY" id)
if [[ -n $ID3 && $ID3 != "$ID1" && $ID3 != "$ID2" ]]; then pass restart.new_id
else fail restart.new_id "v3 id '$ID3' (v1 $ID1, v2 $ID2)"; fi
expect restart.subject_versions 200 '^\[1,2,3\]$' GET "/subjects/$SUBJECT/versions"

# 6. Stop both.
sr_stop
if rn_broker_stop 2>>"$RN_SUITE_LOG"; then pass broker.sigterm_exit_0
else fail broker.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM"; fi
