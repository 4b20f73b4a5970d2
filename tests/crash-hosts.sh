#!/usr/bin/env bash
# The longer crash test across hosts: three `sluice serve` processes on one
# PostgreSQL database and one S3 bucket, one at a time killed with SIGKILL
# while executions run (host/tests/crash_hosts_postgres.rs), for several
# rounds with a new seed each.
#
#   tests/crash-hosts.sh [EXECUTIONS] [KILLS] [ROUNDS]
#
# Defaults: 2000 executions and 25 kills per round, 3 rounds. A failing
# round prints its seed; SLUICE_CRASH_SEED=SEED replays it. Needs what
# scripts/test.sh installs (postgresql, s3s-fs).
set -euo pipefail
cd "$(dirname "$0")/.."
executions=${1:-2000}
kills=${2:-25}
rounds=${3:-3}
cargo build --locked -p sluice --tests
for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds: $executions executions, $kills kills"
    SLUICE_CRASH_EXECUTIONS=$executions SLUICE_CRASH_KILLS=$kills \
        cargo test --locked -p sluice --test crash_hosts_postgres -- --nocapture
done
