/* The query log (POOLSHIM_QUERY_LOG=FILE): one line per statement a pooled handle sends, with
 * the wall time it was sent, its duration (to the end of the first read of its response), the
 * pid, the pool's key label, the lease and the statement redacted (sql_redact.h):
 *
 *   2026-11-27T12:40:01.123456Z 0.000213 pid=4242 key=app@127.0.0.1:3306/shop lease=7 SELECT ?
 *
 * Prepared statements show as "PREPARE <id>: <text>" at prepare and "EXECUTE <id>" at each
 * execution (the server's statement number).
 * Each line is one write(2) to a file opened with O_APPEND, so concurrent threads and processes
 * interleave whole lines; nothing is written under a lock. Off (the default), it costs one
 * predictable branch per call (ps_qlog_on). */
#ifndef POOLSHIM_QUERYLOG_H
#define POOLSHIM_QUERYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The log's descriptor; -1 while the log is off. */
extern int ps_qlog_fd;

/* True when the query log is on. */
static inline bool ps_qlog_on(void)
{
    return __builtin_expect(ps_qlog_fd >= 0, 0);
}

/* Opens PATH for appending (once, at initialisation; NULL or "": the log stays off). One
 * warning when it cannot be opened. */
void ps_qlog_open(const char *path);

/* The monotonic clock in ns (the start of a command, for ps_qlog_command). */
int64_t ps_qlog_now_ns(void);

/* What a command sent. */
enum ps_qlog_kind {
    PS_QLOG_NONE,    /* no statement (a result read, or another command) */
    PS_QLOG_QUERY,   /* a statement's text */
    PS_QLOG_PREPARE, /* a prepared statement's text */
    PS_QLOG_EXECUTE, /* the execution of prepared statement number ID */
};

/* Handle H (pool LABEL, NULL when none; lease number LEASE) sent a command of KIND that started
 * at START_NS (ps_qlog_now_ns) with TEXT[0..LEN) or ID. Its line is written at the end of the
 * first response read on H from this thread (ps_qlog_response), or when this thread sends
 * another command first. */
void ps_qlog_command(void *h, const char *label, uint64_t lease, int64_t start_ns,
                     enum ps_qlog_kind kind, const char *text, size_t len, unsigned long id);

/* A read of a response on H ended: writes the line of H's pending command, if any (a
 * PREPARE's with ID, the statement number the server gave it; 0 when unknown). */
void ps_qlog_response(void *h, unsigned long id);

/* In a forked child: the forking thread's pending line is the parent's, never the child's. */
void ps_qlog_after_fork_child(void);

#endif
