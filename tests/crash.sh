#!/usr/bin/env bash
# Runs the crash-safety test longer than CI does: `sluice serve` is killed
# with SIGKILL at random moments and restarted, KILLS times (default 25),
# with STARTS executions started each round (default 8). A failing run
# prints its seed; SLUICE_CRASH_SEED=... reruns exactly those choices.
#
#   tests/crash.sh [KILLS] [STARTS]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
export SLUICE_CRASH_KILLS="${1:-25}"
export SLUICE_CRASH_STARTS="${2:-8}"
exec cargo test --locked -p sluice --test serve_crash -- --nocapture
