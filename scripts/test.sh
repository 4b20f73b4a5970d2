#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, then
# checks formatting and lints and runs every test. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Providers are built for wasm32-wasip2 (build scripts add it too; doing it
# here first keeps their output quiet).
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# Programs the tests need: the release example compiles C with make,
# gitread's tests compare with git (the example post-receive hook calls
# curl), the console test drives headless Chromium, the PostgreSQL store's
# tests start their own server (crates/pgtest: initdb into a temporary
# folder, as the postgres user). Nothing sandboxes
# granted programs but the `sluice` binary itself: bubblewrap is not
# installed, and the release example is run below with none on PATH.
missing=()
for need in make:make cc:gcc git:git curl:curl \
    /usr/lib/chromium/chromium-headless-shell:chromium-headless-shell; do
    command -v "${need%%:*}" >/dev/null || missing+=("${need#*:}")
done
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "== installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The S3 server the artifact tests start, checking signatures (crates/s3test).
command -v s3s-fs >/dev/null || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ] || {
    echo "== installing s3s-fs (the S3 server the artifact tests run)"
    cargo install s3s-fs --version 0.14.1 --features binary --locked
}

# The Python and JavaScript toolchains that build provider templates
# (componentize-py, componentize-js), into ~/.cache/sluice/toolchains.
echo "== toolchains"
scripts/toolchains.sh all

echo "== the AWS CLI and boto3 (the CodePipeline API's tests)"
scripts/aws-clients.sh

echo "== formatting"
cargo fmt --all --check
(cd plugins && cargo fmt --all --check)
(cd tests/fixtures && cargo fmt --all --check)
(cd crates/isolate && cargo fmt --all --check)

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd plugins && cargo clippy --workspace --locked -- -D warnings)
(cd plugins && cargo clippy --workspace --all-targets --locked --target "$(rustc -vV | sed -n 's/^host: //p')" -- -D warnings)
(cd crates/isolate && cargo clippy --all-targets --locked -- -D warnings)

echo "== tests"
cargo test --workspace --locked
# The built-in providers' own unit tests, compiled for the host.
(cd plugins && cargo test --locked --target "$(rustc -vV | sed -n 's/^host: //p')")

echo "== the README's first command, with no bubblewrap on PATH"
# Every program on PATH but bwrap, linked into one folder (a folder holding
# bwrap may hold the C compiler too, so it cannot simply be dropped). Not
# under /tmp: granted programs get a private /tmp, and they find their
# tools on this PATH.
no_bwrap="${XDG_CACHE_HOME:-$HOME/.cache}/sluice/path-without-bwrap"
rm -rf "$no_bwrap"
mkdir -p "$no_bwrap"
trap 'rm -rf "$no_bwrap"' EXIT
IFS=: read -r -a path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
    [ -d "$dir" ] || continue
    for program in "$dir"/*; do
        name=${program##*/}
        [ "$name" = bwrap ] && continue
        [ -x "$program" ] && [ ! -e "$no_bwrap/$name" ] && ln -s "$program" "$no_bwrap/$name"
    done
done
PATH="$no_bwrap" cargo run --locked -q -- run examples/release/pipeline.yaml --yes
rm -rf "$no_bwrap"
trap - EXIT

echo "== benchmark smoke run (figures in BENCHMARKS.md come from release builds)"
cargo run --locked -q -- bench action --iterations 200 --slow-iterations 2
cargo run --locked -q -- bench engine --executions 20
cargo run --locked -q -- bench run --iterations 2
cargo run --locked -q -- bench program --iterations 5
