#!/usr/bin/env bash
# Installs the toolchains that build Python and JavaScript providers (see
# templates/python and templates/js) into one cache folder, by default
# ~/.cache/sluice/toolchains (set SLUICE_TOOLCHAINS to move it):
#
#   $SLUICE_TOOLCHAINS/python/bin/componentize-py       a venv with componentize-py
#   $SLUICE_TOOLCHAINS/js/node_modules/.bin/componentize-js
#   $SLUICE_TOOLCHAINS/js/wasi-wit/wasi-*/package.wit   WASI WIT the JS build imports
#
# JS templates find the JS toolchain through SLUICE_JS_TOOLCHAIN (default
# $SLUICE_TOOLCHAINS/js). Running it again is quick: a toolchain whose pinned
# versions are installed is only checked. To change a version, edit the pins
# below; the next run reinstalls that toolchain.
#
# Usage: scripts/toolchains.sh [python|js|all]   (default: all)
# Needs python3 (with its venv module) for python, node and npm for js.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
# jco is a dependency of componentize-js; it is pinned for the WASI WIT files
# it ships (lib/wit/builtin/<version>/wasi-*), which JS providers import.
JCO_VERSION=1.35.0
WASI_VERSION=0.2.12

root=${SLUICE_TOOLCHAINS:-$HOME/.cache/sluice/toolchains}
what=${1:-all}

fail() {
    echo "toolchains.sh: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || fail "\`$1\` is not installed; $2"
}

now_ms() {
    date +%s%3N
}

took() {
    local ms=$(($(now_ms) - $1))
    printf '%d.%03d s' $((ms / 1000)) $((ms % 1000))
}

# A toolchain is installed when its stamp holds exactly the pins it was
# installed with and its program is there; the stamp is written last, so an
# interrupted install is redone.
installed() {
    local dir=$1 pins=$2 program=$3
    [ -x "$program" ] && [ -f "$dir/.sluice-toolchain" ] &&
        [ "$(cat "$dir/.sluice-toolchain")" = "$pins" ]
}

install_python() {
    local dir=$root/python
    local pins="componentize-py==$COMPONENTIZE_PY_VERSION"
    local program=$dir/bin/componentize-py
    if installed "$dir" "$pins" "$program"; then
        echo "python: $pins already installed ($program)"
        return
    fi
    need python3 "install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)"
    echo "python: installing $pins into $dir"
    rm -rf "$dir"
    python3 -m venv "$dir" ||
        fail "python3 -m venv $dir failed; on Debian install python3-venv"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$pins" ||
        fail "pip could not install $pins into $dir (is PyPI reachable?)"
    "$program" --version >/dev/null ||
        fail "$program was installed but does not run"
    echo "$pins" >"$dir/.sluice-toolchain"
}

install_js() {
    local dir=$root/js
    local pins="@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION @bytecodealliance/jco@$JCO_VERSION wasi@$WASI_VERSION"
    local program=$dir/node_modules/.bin/componentize-js
    if installed "$dir" "$pins" "$program" && [ -f "$dir/wasi-wit/wasi-filesystem/package.wit" ]; then
        echo "js: $pins already installed ($program)"
        return
    fi
    need node "install Node.js 18 or newer"
    need npm "install npm (it comes with Node.js)"
    echo "js: installing $pins into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    cat >"$dir/package.json" <<EOF
{
  "name": "sluice-js-toolchain",
  "private": true,
  "description": "Written by scripts/toolchains.sh; reinstalled when its pins change.",
  "dependencies": {
    "@bytecodealliance/componentize-js": "$COMPONENTIZE_JS_VERSION",
    "@bytecodealliance/jco": "$JCO_VERSION"
  }
}
EOF
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) ||
        fail "npm install failed in $dir (is the npm registry reachable?)"
    [ -x "$program" ] || fail "npm installed no $program"
    local wasi=$dir/node_modules/@bytecodealliance/jco/lib/wit/builtin/$WASI_VERSION
    [ -f "$wasi/wasi-filesystem/package.wit" ] ||
        fail "jco $JCO_VERSION has no WASI $WASI_VERSION WIT files in $wasi; pick a WASI_VERSION it ships"
    mkdir -p "$dir/wasi-wit"
    cp -R "$wasi"/wasi-* "$dir/wasi-wit/"
    echo "$pins" >"$dir/.sluice-toolchain"
}

case $what in
python | js | all) ;;
*) fail "unknown toolchain \`$what\`: use python, js or all" ;;
esac

mkdir -p "$root" || fail "cannot create $root"
start=$(now_ms)
if [ "$what" = python ] || [ "$what" = all ]; then
    t=$(now_ms)
    install_python
    echo "python: ready in $(took "$t")"
fi
if [ "$what" = js ] || [ "$what" = all ]; then
    t=$(now_ms)
    install_js
    echo "js: ready in $(took "$t")"
fi
echo "toolchains in $root, ready in $(took "$start")"
if [ "$what" = js ] || [ "$what" = all ]; then
    echo "JS templates find them with SLUICE_JS_TOOLCHAIN=$root/js (the default)"
fi
