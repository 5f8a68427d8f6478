/* bench_connect: measures connection-handling throughput.
 *
 *   bench_connect MODE [--tcp|--tls] [--point] [--seconds S | --ops N]
 *
 *   per-request  each op: mysql_init(NULL) + mysql_real_connect + the query (stored, freed)
 *                + mysql_close -- what a legacy program does, and what the shim accelerates
 *   persistent   one connection opened before timing starts; each op: the query
 *   interleaved  both of the above, plus a "reset floor" (persistent connection, each op
 *                the query + mysql_reset_connection: the round trips a reset-on-close pool
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
 *   renew       two handles used alternately (the query); run it with POOLSHIM_MAX_PER_KEY=1
 *                so that every op reaps the other handle and re-leases this one: the cost of
 *                transparently giving a reclaimed handle its connection back
 *   round-trips  what the server counted for N per-request ops (--ops, default 1000), after
 *                10 unmeasured ones (the first real connect): the deltas of Questions,
 *                Com_admin_commands, Com_select, Com_change_db and Connections divided by N,
 *                read on an admin connection (PSTEST_ADMIN_*) with each reading's own share
 *                taken out (bench_common.h). Prints requests, then questions_per_request,
 *                admin_commands_per_request, selects_per_request, change_db_per_request,
 *                connections_per_request. Counts, not speeds: other clients of the server
 *                must be idle while it runs.
 *   setup        creates and fills the bench's table (BENCH_TABLE in PSTEST_DB) as the app
 *                user; run it once, without the shim, before --point
 *   --tcp        connect to PSTEST_HOST:PSTEST_PORT instead of the socket PSTEST_SOCKET
 *   --tls        TCP with TLS, the server verified against PSTEST_TLS_CA
 *   --point      the query is a primary-key lookup on the bench's table (bench_query), not
 *                "SELECT 1"
 *   --seconds S  run for S seconds (default 2; may be fractional); --ops N: run exactly N ops
 *
 * Prints ops, seconds, ops_per_sec. Stops at the first error (error=..., exit 1). */
#include "bench_common.h"

/* What the command line asked for. */
typedef struct {
    const char *mode;
    bool tcp, tls, point;
    double seconds;
    long max_ops;
} bench_args;

/* Runs one batch op of MODE: 0 per-request, 1 persistent, 2 persistent + reset (floor). */
static void batch_op(int mode, const app_dsn *d, bool point, unsigned long seq, MYSQL *conn)
{
    if (mode == 0) {
        bench_per_request(d, point, seq);
        return;
    }
    bench_query(conn, point, seq);
    if (mode == 2 && mysql_reset_connection(conn))
        app_die(mysql_errno(conn), "%s", app_error(conn));
}

/* Alternates batches of the three workloads on CONN for SECONDS; prints the three rates. */
static void interleaved(const app_dsn *d, bool point, MYSQL *conn, double seconds)
{
    enum { BATCH = 100, MODES = 3 };
    double t[MODES] = {0}, start = app_now();
    long ops[MODES] = {0};
    while (app_now() - start < seconds) {
        for (int mode = 0; mode < MODES; mode++) {
            double t0 = app_now();
            for (int i = 0; i < BATCH; i++)
                batch_op(mode, d, point, (unsigned long)(ops[mode] + i), conn);
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
            bench_per_request(d, false, 0);
        t[1] += app_now() - t0;
        ops[0] += BATCH;
        ops[1] += BATCH;
    }
    printf("ops=%ld\nleak_ops_per_sec=%.1f\nclose_ops_per_sec=%.1f\nleaked=%zu\n", ops[0] + ops[1],
           (double)ops[0] / t[0], (double)ops[1] / t[1], nleaked);
}

/* Opens a connection with D; dies on error. */
static MYSQL *open_conn(const app_dsn *d)
{
    MYSQL *m = mysql_init(NULL);
    if (!m || !app_connect(m, d))
        app_die(m ? mysql_errno(m) : 0, "%s", app_error(m));
    return m;
}

/* Runs WARM unmeasured per-request ops, then N measured ones; prints the server's counters per
 * request (see round-trips above). Each count starts and ends with every close seen by the
 * server: after the unmeasured ops it keeps as many connections open as it accepted for them
 * when that is fewer than one per op (the pool's), none when each op had its own; after the
 * measured ones, as many as before them. */
static void round_trips(const app_dsn *d, bool point, long n)
{
    enum { WARM = 10 };
    MYSQL *admin = app_admin();
    bench_counters start = bench_counters_read(admin);
    for (unsigned long i = 0; i < WARM; i++)
        bench_per_request(d, point, i);
    long long reads = 0;
    long long opened = bench_counters_read(admin).connections - start.connections;
    long long kept = opened < WARM ? opened : 0;
    bench_counters before = bench_counters_settled(admin, start.threads_connected + kept, &reads);
    bench_counters idle = bench_counters_read(admin);
    for (long i = 0; i < n; i++)
        bench_per_request(d, point, (unsigned long)i);
    reads = 1; /* idle */
    bench_counters after = bench_counters_settled(admin, before.threads_connected, &reads);
    bench_counters delta = bench_counters_delta(&before, &idle, &after, reads);
    mysql_close(admin);
    printf("requests=%ld\n", n);
#define PRINT_PER_REQUEST(field, name)                                                             \
    printf(#field "_per_request=%.3f\n", n ? (double)delta.field / (double)n : 0.0);
    BENCH_COUNTERS(PRINT_PER_REQUEST)
#undef PRINT_PER_REQUEST
}

/* Creates BENCH_TABLE in D's database with BENCH_ROWS rows (replacing any older one). */
static void setup_table(const app_dsn *d)
{
    MYSQL *m = open_conn(d);
    app_run(m, "CREATE OR REPLACE TABLE " BENCH_TABLE
               " (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL) ENGINE=InnoDB");
    char sql[128];
    snprintf(sql, sizeof sql,
             "INSERT INTO " BENCH_TABLE " SELECT seq, CONCAT('item ', seq) FROM seq_1_to_%d",
             BENCH_ROWS);
    app_run(m, sql);
    mysql_close(m);
    printf("rows=%d\n", BENCH_ROWS);
}

/* Parses argv into A; dies with the usage on anything else. */
static void parse_args(int argc, char **argv, bench_args *a)
{
    static const char *const modes[] = {
        "per-request", "persistent",  "interleaved", "leak-interleaved",
        "renew",       "round-trips", "setup"};
    *a = (bench_args){.mode = argc > 1 ? argv[1] : "", .seconds = 2};
    bool known = false;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        known = known || !strcmp(a->mode, modes[i]);
    if (!known)
        app_die(0, "usage: bench_connect per-request|persistent|interleaved|leak-interleaved|"
                   "renew|round-trips|setup [--tcp|--tls] [--point] [--seconds S | --ops N]");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            a->tcp = true;
        else if (!strcmp(argv[i], "--tls"))
            a->tls = true;
        else if (!strcmp(argv[i], "--point"))
            a->point = true;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            a->seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ops"))
            a->max_ops = app_long_arg("--ops", i + 1 < argc ? argv[++i] : NULL);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
}

/* per-request, persistent and renew: ops until A's count or time is reached; prints the rate. */
static void timed_loop(const bench_args *a, const app_dsn *d)
{
    bool per_request = !strcmp(a->mode, "per-request"), renew = !strcmp(a->mode, "renew");
    MYSQL *conn = per_request ? NULL : open_conn(d);
    MYSQL *other = renew ? open_conn(d) : NULL;
    long ops = 0;
    double start = app_now(), elapsed = 0;
    while (a->max_ops ? ops < a->max_ops : elapsed < a->seconds) {
        if (per_request)
            bench_per_request(d, a->point, (unsigned long)ops);
        else
            bench_query(renew && (ops % 2) ? other : conn, a->point, (unsigned long)ops);
        ops++;
        elapsed = app_now() - start;
    }
    if (conn)
        mysql_close(conn);
    if (other)
        mysql_close(other);
    printf("ops=%ld\nseconds=%.3f\nops_per_sec=%.1f\n", ops, elapsed,
           elapsed > 0 ? (double)ops / elapsed : 0.0);
}

int main(int argc, char **argv)
{
    bench_args a;
    parse_args(argc, argv, &a);
    app_dsn dsn = a.tls ? app_tls_dsn() : app_user_dsn(a.tcp);
    if (!strcmp(a.mode, "setup")) {
        setup_table(&dsn);
    } else if (!strcmp(a.mode, "round-trips")) {
        round_trips(&dsn, a.point, a.max_ops ? a.max_ops : 1000);
    } else if (!strcmp(a.mode, "leak-interleaved")) {
        leak_interleaved(&dsn, a.seconds);
    } else if (!strcmp(a.mode, "interleaved")) {
        MYSQL *conn = open_conn(&dsn);
        interleaved(&dsn, a.point, conn, a.seconds);
        mysql_close(conn);
    } else {
        timed_loop(&a, &dsn);
    }
    return 0;
}
