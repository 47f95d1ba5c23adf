#!/usr/bin/env bash
# Runs every test of the project from a fresh machine, installing what the tests need.
# Usage: ./test.sh            the full suite (what CI runs)
#        ./test.sh --quick    Rust checks and tests only
set -euo pipefail
cd "$(dirname "$0")"

quick=false
for arg in "$@"; do
  case "$arg" in
    --quick) quick=true ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "format"
cargo fmt --all -- --check

step "generated codec matches the specs"
if [ -d ../shared/kafka-message-specs ]; then
  cargo xtask codegen --check
else
  echo "skipped: ../shared/kafka-message-specs is absent"
fi

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "unit and integration tests"
cargo test --workspace 2>&1 | tee target/test-output.txt
passed=$(grep -E '^test result:' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -E '^test result:' target/test-output.txt | awk '{s+=$6} END {print s+0}')

if [ "$quick" = false ]; then
  : # real-client suites join here as the broker lands (compat/).
fi

step "done"
echo "tests: ${passed} passed, ${failed} failed"
