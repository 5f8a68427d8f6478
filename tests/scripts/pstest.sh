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

# ps_launch_env: how to start a launcher under test (poolshim-run, poolshim-entrypoint: they
# put the shim first in LD_PRELOAD) in a sanitizer build, whose shim needs the sanitizer's
# runtime in the app. Sets launch_preload, the launcher's initial LD_PRELOAD, and app_prefix,
# words to put in front of the app. ASan: the runtime goes in first (and may then come after
# the shim: verify_asan_link_order=0). TSan: the runtime alone crashes bash and sh, so it is
# appended to LD_PRELOAD just before the app, by a sh that execs it.
# shellcheck disable=SC2034 # launch_preload and app_prefix are for the caller
ps_launch_env() {
    local san
    san=$(ps_sanitizer_preload)
    launch_preload="" app_prefix=()
    case $san in
    *libtsan*)
        # shellcheck disable=SC2016 # expanded by that sh
        app_prefix=(sh -c 'export LD_PRELOAD="$LD_PRELOAD $0"; exec "$@"' "$san")
        ;;
    *)
        launch_preload=$san
        export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
        ;;
    esac
}

# ps_slow N SLOW_N: N, or SLOW_N under valgrind (PSTEST_SLOW), as pstest_count does.
ps_slow() {
    if [[ -n ${PSTEST_WRAPPER:-} || ${PSTEST_SLOW:-0} == 1 ]]; then echo "$2"; else echo "$1"; fi
}
