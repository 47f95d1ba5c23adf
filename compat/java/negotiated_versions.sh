#!/usr/bin/env bash
# compat/java/negotiated_versions.sh -- runs ClientRoundTrips, then reads from the broker's
# request log (target `runnel::requests`, debug) which versions the Java 4.4.0 clients used, and
# prints a PASS/FAIL line per API: a Kafka 4.4 client must negotiate the newest version Runnel
# serves (Produce 13, Fetch 18, OffsetCommit 10, OffsetFetch 10, Metadata 13, ListOffsets 11).
# Usage: negotiated_versions.sh KAFKA_TOOLS CLIENT_ROUND_TRIPS BROKER_LOG BOOTSTRAP
set -uo pipefail
tools=$1 program=$2 log=$3 bootstrap=$4
"$tools" run "$program" "$bootstrap"
rc=$?
for want in Produce=13 Fetch=18 OffsetCommit=10 OffsetFetch=10 Metadata=13 ListOffsets=11; do
  api=${want%=*} version=${want#*=}
  used=$(grep -oE "api=$api version=[0-9]+" "$log" | awk -F= '{print $3}' | sort -n | uniq | tr '\n' ' ')
  if [[ " $used" == *" $version "* ]]; then
    echo "PASS negotiated.$api.v$version"
  else
    echo "FAIL negotiated.$api.v$version: versions used: ${used:-none} (log $log)"
    rc=1
  fi
done
exit $rc
