#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each) with cargo-fuzz on the stable toolchain
# (RUSTC_BOOTSTRAP=1 unlocks the nightly flags it needs). Exits non-zero if any target finds a crash.
# Usage: scripts/fuzz.sh [seconds per target]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd "$root"
for target in $(cargo fuzz list --fuzz-dir tests/fuzz); do
  echo "== $target (${seconds}s)"
  cargo fuzz run --fuzz-dir tests/fuzz "$target" -- -max_total_time="$seconds" 2>&1 | grep -E 'Done [0-9]+ runs|DONE|SUMMARY|panicked' || true
  if [ -n "$(ls -A "tests/fuzz/artifacts/$target" 2>/dev/null)" ]; then
    echo "crash found for $target: tests/fuzz/artifacts/$target" >&2
    exit 1
  fi
done
echo "no crash in any target"
