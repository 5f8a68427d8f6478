/* Shared bits of the benchmark apps (bench_connect, bench_batches; header only): the
 * per-request op, the point SELECT on the bench's table, and the server's status counters. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "app_common.h"

/* The bench's table in PSTEST_DB (bench_connect setup creates it): BENCH_ROWS rows, primary key
 * id 1..BENCH_ROWS, a short text column. Small enough to stay in the buffer pool. */
#define BENCH_TABLE "bench_items"
#define BENCH_ROWS  1000

/* Set by --write: the point query is a primary-key UPDATE that changes nothing (its OK packet
 * still makes the session one a close must reset). */
static bool bench_write;

/* The query of one op: "SELECT 1", or with POINT a primary-key lookup (an UPDATE with
 * bench_write) on BENCH_TABLE whose id cycles through the rows with SEQ (a literal in the text,
 * as a legacy program builds it). Dies on error. */
static inline void bench_query(MYSQL *m, bool point, unsigned long seq)
{
    char sql[96];
    if (point)
        snprintf(sql, sizeof sql,
                 bench_write ? "UPDATE " BENCH_TABLE " SET v = v WHERE id = %lu"
                             : "SELECT v FROM " BENCH_TABLE " WHERE id = %lu",
                 seq % BENCH_ROWS + 1);
    if (!app_query(m, point ? sql : "SELECT 1"))
        app_die(mysql_errno(m), "%s", app_error(m));
}

/* One per-request op: mysql_init(NULL) + mysql_real_connect + the query (bench_query) +
 * mysql_close. Dies on error. */
static inline void bench_per_request(const app_dsn *d, bool point, unsigned long seq)
{
    MYSQL *m = mysql_init(NULL);
    if (!m)
        app_die(0, "mysql_init failed");
    if (!app_connect(m, d))
        app_die(mysql_errno(m), "%s", app_error(m));
    bench_query(m, point, seq);
    mysql_close(m);
}

/* The server counters a round-trip count reads (SHOW GLOBAL STATUS). On MariaDB 10.11 every
 * COM_QUERY, COM_INIT_DB, COM_RESET_CONNECTION and COM_CHANGE_USER counts in Questions;
 * COM_RESET_CONNECTION, COM_CHANGE_USER and COM_PING in Com_admin_commands (there is no
 * Com_reset_connection or Com_change_user); COM_INIT_DB also in Com_change_db. */
#define BENCH_COUNTERS(X)                                                                          \
    X(questions, "Questions")                                                                      \
    X(admin_commands, "Com_admin_commands")                                                        \
    X(selects, "Com_select")                                                                       \
    X(change_db, "Com_change_db")                                                                  \
    X(connections, "Connections")

typedef struct {
#define BENCH_FIELD(field, name) long long field;
    BENCH_COUNTERS(BENCH_FIELD)
#undef BENCH_FIELD
    long long threads_connected; /* a gauge, read along: not part of any delta */
} bench_counters;

/* Reads every BENCH_COUNTERS value with one SHOW GLOBAL STATUS on ADMIN (the reading itself
 * counts in Questions: bench_counters_delta takes it out). Dies on error. */
static inline bench_counters bench_counters_read(MYSQL *admin)
{
    bench_counters c = {0};
    if (mysql_query(admin, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', "
                           "'Com_admin_commands', 'Com_select', 'Com_change_db', 'Connections', "
                           "'Threads_connected')"))
        app_die(mysql_errno(admin), "SHOW GLOBAL STATUS: %s", app_error(admin));
    MYSQL_RES *r = mysql_store_result(admin);
    MYSQL_ROW row;
    while (r && (row = mysql_fetch_row(r))) {
#define BENCH_READ(field, name)                                                                    \
    if (!strcmp(row[0], name))                                                                     \
        c.field = atoll(row[1]);
        BENCH_COUNTERS(BENCH_READ)
#undef BENCH_READ
        if (!strcmp(row[0], "Threads_connected"))
            c.threads_connected = atoll(row[1]);
    }
    mysql_free_result(r);
    return c;
}

/* AFTER - BEFORE, minus what the readings cost: READS readings were taken after BEFORE, AFTER
 * included, and the first of them (IDLE) right after BEFORE with nothing else running, so that
 * IDLE - BEFORE is one reading's own share. */
static inline bench_counters bench_counters_delta(const bench_counters *before,
                                                  const bench_counters *idle,
                                                  const bench_counters *after, long long reads)
{
    bench_counters d = {0};
#define BENCH_SUB(field, name)                                                                     \
    d.field = after->field - before->field - reads * (idle->field - before->field);
    BENCH_COUNTERS(BENCH_SUB)
#undef BENCH_SUB
    return d;
}

/* The counters on ADMIN once the server has seen the clients of a run go: the COM_QUIT of a
 * close counts in Questions when the server reads it, after mysql_close has returned, and a
 * gone session's counts join the global ones only after it has left Threads_connected. Reads
 * until Threads_connected is at most MAX_THREADS and Questions moved by the reading's own
 * share alone since the reading before, every millisecond, at most 30 s (then dies: another
 * client stayed connected); adds the readings to *READS. */
static inline bench_counters bench_counters_settled(MYSQL *admin, long long max_threads,
                                                    long long *reads)
{
    long long prev = -2;
    for (int i = 0; i < 30000; i++) {
        bench_counters c = bench_counters_read(admin);
        ++*reads;
        if (c.threads_connected <= max_threads && c.questions == prev + 1)
            return c;
        prev = c.questions;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    app_die(0,
            "Threads_connected stayed above %lld, or Questions moved, for 30 s: another "
            "client is connected",
            max_threads);
}

#endif
