# scripts/lib/build.sh: configure and build the same way in every script (sourced by
# scripts/test, scripts/demo and scripts/bench, which set ROOT to the repository first).
# shellcheck shell=bash

# ps_run CMD...: runs CMD; with PS_QUIET=1 its output is kept back and only its tail is shown
# (on stderr) when it fails. Returns CMD's status.
ps_run() {
    local log rc=0
    if [[ ${PS_QUIET:-0} != 1 ]]; then
        "$@"
        return
    fi
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    ((rc == 0)) || tail -n 30 "$log" >&2
    rm -f "$log"
    return "$rc"
}

# ps_configure BUILD_DIR [SANITIZE]: configures BUILD_DIR with the options of scripts/test
# (RelWithDebInfo, warnings as errors, strict state checks, POOLSHIM_SANITIZE=SANITIZE, default none), so the scripts
# share build/ without reconfiguring it back and forth. Meant to run every time: on a configured
# directory it is a quick check, and it repairs one whose first configure failed (say, before
# the packages were installed).
ps_configure() {
    ps_run cmake -S "$ROOT" -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOOLSHIM_WERROR=ON -DPOOLSHIM_STRICT=ON \
        "-DPOOLSHIM_SANITIZE=${2:-}"
}

# ps_build BUILD_DIR [TARGET...]: builds the TARGETs (all when none) with 2 jobs.
ps_build() {
    local build=$1
    shift
    if (($#)); then
        ps_run cmake --build "$build" -j2 --target "$@"
    else
        ps_run cmake --build "$build" -j2
    fi
}
