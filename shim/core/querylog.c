/* The query log (see querylog.h). A statement's line waits in a per-thread record from the
 * command until the end of the first read of its response. */
#include "poolshim/querylog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "poolshim/log.h"
#include "poolshim/sql_redact.h"

int ps_qlog_fd = -1;

enum { TEXT_MAX = 2048, LABEL_MAX = 256 };

/* The command this thread sent last and whose line is not written yet. */
typedef struct pending_line {
    void *h;              /* NULL: nothing pending */
    int64_t start_ns;     /* monotonic */
    struct timespec wall; /* when it was sent */
    uint64_t lease;
    enum ps_qlog_kind kind;
    unsigned long id; /* EXECUTE: the statement's; PREPARE: the one the server gave it (0: none) */
    char label[LABEL_MAX];
    char text[TEXT_MAX];
} pending_line;

static __thread pending_line pending;

void ps_qlog_open(const char *path)
{
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600), err = errno;
    if (fd < 0) {
        char quoted[512];
        ps_warn(NULL, "cannot open POOLSHIM_QUERY_LOG '%s': %s; no query log",
                ps_log_quote(quoted, sizeof quoted, path, 256), strerror(err));
        return;
    }
    int fl = fcntl(fd, F_GETFL); /* opened without blocking (a FIFO), then written blocking */
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    ps_qlog_fd = fd;
}

int64_t ps_qlog_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes P's line, ending now, in one write(2), and forgets it. */
static void write_pending(pending_line *p)
{
    char line[TEXT_MAX + LABEL_MAX + 128];
    struct tm tm;
    gmtime_r(&p->wall.tv_sec, &tm);
    int64_t ns = ps_qlog_now_ns() - p->start_ns;
    char what[32] = "";
    if (p->kind == PS_QLOG_EXECUTE)
        snprintf(what, sizeof what, "EXECUTE %lu", p->id);
    else if (p->kind == PS_QLOG_PREPARE)
        snprintf(what, sizeof what, "PREPARE %lu: ", p->id);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %lld.%06lld pid=%d key=%s lease=%llu "
                     "%s%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     p->wall.tv_nsec / 1000, (long long)(ns / 1000000000),
                     (long long)(ns % 1000000000 / 1000), (int)getpid(), p->label,
                     (unsigned long long)p->lease, what, p->text);
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1, line[n - 1] = '\n';
    int saved = errno;
    ssize_t ignored = write(ps_qlog_fd, line, (size_t)n);
    (void)ignored;
    errno = saved;
    p->h = NULL;
}

void ps_qlog_command(void *h, const char *label, uint64_t lease, int64_t start_ns,
                     enum ps_qlog_kind kind, const char *text, size_t len, unsigned long id)
{
    pending_line *p = &pending;
    if (p->h)
        write_pending(p); /* sent without reading its response (mysql_send_query) */
    if (kind == PS_QLOG_NONE)
        return;
    p->h = h;
    p->start_ns = start_ns;
    clock_gettime(CLOCK_REALTIME, &p->wall);
    p->kind = kind;
    p->id = id;
    p->lease = lease;
    char quoted[LABEL_MAX];
    snprintf(p->label, sizeof p->label, "%s",
             label ? ps_log_quote(quoted, sizeof quoted, label, 200) : "-");
    for (char *c = p->label; *c; c++)
        if (*c == ' ')
            *c = '_'; /* one field */
    if (kind == PS_QLOG_EXECUTE)
        p->text[0] = '\0';
    else
        ps_sql_redact(text, len, p->text, sizeof p->text);
}

void ps_qlog_after_fork_child(void)
{
    pending.h = NULL;
}

void ps_qlog_response(void *h, unsigned long id)
{
    if (!pending.h || pending.h != h)
        return;
    if (pending.kind == PS_QLOG_PREPARE)
        pending.id = id;
    write_pending(&pending);
}
