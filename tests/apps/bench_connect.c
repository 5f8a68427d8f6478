/* bench_connect: measures connection-handling throughput.
 *
 *   bench_connect MODE [--tcp] [--seconds S | --ops N]
 *
 *   per-request  each op: mysql_init(NULL) + mysql_real_connect + "SELECT 1" (stored, freed)
 *                + mysql_close -- what a legacy program does, and what the shim accelerates
 *   persistent   one connection opened before timing starts; each op: "SELECT 1"
 *   interleaved  both of the above, plus a "reset floor" (persistent connection, each op
 *                "SELECT 1" + mysql_reset_connection: the round trips a reset-on-close pool
 *                cannot avoid, with no pooling work at all), in alternating batches of 100 ops
 *                within this one process, timed separately: the rates see the same machine at
 *                the same moments, so their ratios survive the drift of a shared VM. Prints
 *                per_request_ops_per_sec, persistent_ops_per_sec, floor_ops_per_sec.
 *   leak-interleaved  connect-per-request programs that never close their handles (the leak
 *                of tests/apps/leaky: mysql_init(NULL) + mysql_real_connect + "SELECT 1", the
 *                handle kept for ever) against ones that close them (per-request), in
 *                alternating batches of 100 ops within this one process, timed separately.
 *                Under the shim in its default configuration every leaked connect beyond the
 *                cap reaps the least recently used leaked handle. Prints leak_ops_per_sec,
 *                close_ops_per_sec, leaked (handles never closed).
 *   renew       two handles used alternately ("SELECT 1"); run it with POOLSHIM_MAX_PER_KEY=1
 *                so that every op reaps the other handle and re-leases this one: the cost of
 *                transparently giving a reclaimed handle its connection back
 *   --tcp        connect to PSTEST_HOST:PSTEST_PORT instead of the socket PSTEST_SOCKET
 *   --tls        TCP with TLS, the server verified against PSTEST_TLS_CA
 *   --seconds S  run for S seconds (default 2; may be fractional); --ops N: run exactly N ops
 *
 * Prints ops, seconds, ops_per_sec. Stops at the first error (error=..., exit 1). */
#include "app_common.h"

/* One per-request op: a fresh connection, one query, close. Dies on error. */
static void per_request_op(const app_dsn *d)
{
    MYSQL *m = mysql_init(NULL);
    if (!m)
        app_die(0, "mysql_init failed");
    if (!app_connect(m, d) || !app_query(m, "SELECT 1"))
        app_die(mysql_errno(m), "%s", app_error(m));
    mysql_close(m);
}

/* Runs one batch op of MODE: 0 per-request, 1 persistent, 2 persistent + reset (floor). */
static void batch_op(int mode, const app_dsn *d, MYSQL *conn)
{
    if (mode == 0) {
        per_request_op(d);
        return;
    }
    if (!app_query(conn, "SELECT 1") || (mode == 2 && mysql_reset_connection(conn)))
        app_die(mysql_errno(conn), "%s", app_error(conn));
}

/* Alternates batches of the three workloads on CONN for SECONDS; prints the three rates. */
static void interleaved(const app_dsn *d, MYSQL *conn, double seconds)
{
    enum { BATCH = 100, MODES = 3 };
    double t[MODES] = {0}, start = app_now();
    long ops[MODES] = {0};
    while (app_now() - start < seconds) {
        for (int mode = 0; mode < MODES; mode++) {
            double t0 = app_now();
            for (int i = 0; i < BATCH; i++)
                batch_op(mode, d, conn);
            t[mode] += app_now() - t0;
            ops[mode] += BATCH;
        }
    }
    printf("ops=%ld\nper_request_ops_per_sec=%.1f\npersistent_ops_per_sec=%.1f\n"
           "floor_ops_per_sec=%.1f\n",
           ops[0] + ops[1] + ops[2], (double)ops[0] / t[0], (double)ops[1] / t[1],
           (double)ops[2] / t[2]);
}

/* Alternates batches of leaked and closed per-request ops for SECONDS; prints the two rates.
 * The leaked handles stay reachable (a list) until exit, as in tests/apps/leaky. */
static void leak_interleaved(const app_dsn *d, double seconds)
{
    enum { BATCH = 100 };
    double t[2] = {0}, start = app_now();
    long ops[2] = {0};
    MYSQL **leaked = NULL;
    size_t nleaked = 0, cap = 0;
    while (app_now() - start < seconds) {
        if (nleaked + BATCH > cap) {
            cap = cap ? cap * 2 : 4096;
            if (!(leaked = realloc(leaked, cap * sizeof *leaked)))
                app_die(0, "out of memory");
        }
        double t0 = app_now();
        for (int i = 0; i < BATCH; i++) {
            MYSQL *m = mysql_init(NULL);
            if (!m)
                app_die(0, "mysql_init failed");
            if (!app_connect(m, d) || !app_query(m, "SELECT 1"))
                app_die(mysql_errno(m), "leaked handle %zu: %s", nleaked, app_error(m));
            leaked[nleaked++] = m;
        }
        t[0] += app_now() - t0;
        t0 = app_now();
        for (int i = 0; i < BATCH; i++)
            per_request_op(d);
        t[1] += app_now() - t0;
        ops[0] += BATCH;
        ops[1] += BATCH;
    }
    printf("ops=%ld\nleak_ops_per_sec=%.1f\nclose_ops_per_sec=%.1f\nleaked=%zu\n", ops[0] + ops[1],
           (double)ops[0] / t[0], (double)ops[1] / t[1], nleaked);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    bool tcp = false, tls = false, per_request = !strcmp(mode, "per-request");
    bool both = !strcmp(mode, "interleaved"), renew = !strcmp(mode, "renew");
    bool leak = !strcmp(mode, "leak-interleaved");
    double seconds = 2;
    long max_ops = 0;
    if (!per_request && !both && !renew && !leak && strcmp(mode, "persistent") != 0)
        app_die(0, "usage: bench_connect per-request|persistent|interleaved|leak-interleaved|"
                   "renew [--tcp|--tls] [--seconds S | --ops N]");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--tls"))
            tls = true;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ops"))
            max_ops = app_long_arg("--ops", i + 1 < argc ? argv[++i] : NULL);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
    app_dsn dsn = tls ? app_tls_dsn() : app_user_dsn(tcp);
    if (leak) {
        leak_interleaved(&dsn, seconds);
        return 0;
    }
    MYSQL *conn = NULL;
    if (!per_request) {
        conn = mysql_init(NULL);
        if (!conn || !app_connect(conn, &dsn))
            app_die(conn ? mysql_errno(conn) : 0, "%s", app_error(conn));
    }
    if (both) {
        interleaved(&dsn, conn, seconds);
        mysql_close(conn);
        return 0;
    }
    MYSQL *other = NULL;
    if (renew && (!(other = mysql_init(NULL)) || !app_connect(other, &dsn)))
        app_die(other ? mysql_errno(other) : 0, "%s", app_error(other));

    long ops = 0;
    double start = app_now(), elapsed = 0;
    while (max_ops ? ops < max_ops : elapsed < seconds) {
        if (per_request) {
            per_request_op(&dsn);
        } else {
            MYSQL *m = renew && (ops % 2) ? other : conn;
            if (!app_query(m, "SELECT 1"))
                app_die(mysql_errno(m), "%s", app_error(m));
        }
        ops++;
        elapsed = app_now() - start;
    }
    if (conn)
        mysql_close(conn);
    if (other)
        mysql_close(other);
    printf("ops=%ld\nseconds=%.3f\nops_per_sec=%.1f\n", ops, elapsed,
           elapsed > 0 ? (double)ops / elapsed : 0.0);
    return 0;
}
