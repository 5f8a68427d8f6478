# tests/scripts/pstest.sh: helpers of the shell tests (sourced), the shell side of
# tests/support/pstest.h. They run against the sandbox of scripts/test (PSTEST_* exported), run
# the C test apps as pstest_run does (PSTEST_WRAPPER, e.g. valgrind, in front of C apps only)
# and read the server's own counters.
# shellcheck shell=bash

# ps_fail MESSAGE...: fails the test.
ps_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# ps_need VAR...: fails unless every VAR is set (scripts/test exports the sandbox's).
ps_need() {
    local v
    for v in "$@"; do
        [[ -n ${!v:-} ]] || ps_fail "$v is not set: run this through scripts/test"
    done
}

# ps_sql SOCKET SQL: runs SQL as the sandbox's admin over SOCKET (one server connection).
ps_sql() {
    LD_PRELOAD="" mariadb --no-defaults -S "$1" -u"$PSTEST_ADMIN_USER" \
        -p"$PSTEST_ADMIN_PASSWORD" -N -B -e "$2"
}

# ps_connections SOCKET: the server's Connections counter (the reading is itself counted: a
# delta between two readings is what happened in between, plus one).
ps_connections() {
    ps_sql "$1" "SHOW GLOBAL STATUS LIKE 'Connections'" | cut -f2
}

# ps_value TEXT KEY: the value of the first "KEY=value" line of TEXT.
ps_value() {
    sed -n "s/^$2=//p" <<<"$1" | head -n 1
}

# ps_sanitizer_preload: the entries of PSTEST_PRELOAD other than the shim (a sanitizer's
# runtime, which must be loaded into the apps of a sanitizer build), space-separated.
ps_sanitizer_preload() {
    local e out=""
    for e in ${PSTEST_PRELOAD:-}; do
        [[ ${e##*/} == libpoolshim.so ]] || out+="${out:+ }$e"
    done
    echo "$out"
}

# ps_allow_any_preload_order: a sanitizer build's runtime must otherwise come first in
# LD_PRELOAD, and the launchers under test put the shim first
ps_allow_any_preload_order() {
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
}

# ps_slow N SLOW_N: N, or SLOW_N under valgrind (PSTEST_SLOW), as pstest_count does.
ps_slow() {
    if [[ -n ${PSTEST_WRAPPER:-} || ${PSTEST_SLOW:-0} == 1 ]]; then echo "$2"; else echo "$1"; fi
}
