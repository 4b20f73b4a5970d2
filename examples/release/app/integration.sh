#!/bin/sh
# Integration test of a deployed release: runs the installed program and
# checks what it says. Usage: integration.sh DEPLOYED_DIR EXPECTED_REVISION
# Writes build/integration-results.xml (JUnit); exits 1 when a check fails.
deployed="$1"
expected="$2"
mkdir -p build
failures=0
cases=""

check() {
    name="$1"; shift
    if "$@"; then
        cases="$cases    <testcase classname=\"integration\" name=\"$name\"/>\n"
    else
        failures=$((failures + 1))
        cases="$cases    <testcase classname=\"integration\" name=\"$name\"><failure message=\"failed\"/></testcase>\n"
        echo "FAILED: $name" >&2
    fi
}

check runs [ -x "$deployed/bin/hello" ]
check greets [ "$("$deployed/bin/hello" Staging)" = "Hello, Staging!" ]
check carries_the_revision [ "$("$deployed/bin/hello" --revision)" = "$expected" ]

printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="integration" tests="3" failures="%s">\n%b</testsuite>\n' \
    "$failures" "$cases" > build/integration-results.xml
[ "$failures" -eq 0 ]
