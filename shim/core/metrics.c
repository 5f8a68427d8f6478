/* The metrics file (see metrics.h). */
#include "poolshim/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "poolshim/config.h"
#include "poolshim/log.h"

static int64_t next_write_ms; /* no write before this (monotonic ms) */
static int writing;           /* 1 while a thread formats or writes the file */
static int stopped;           /* 1 after ps_metrics_remove: no more writes */
static long written_pid;      /* the pid whose file this process wrote (0: none) */
static int warned;            /* the failure to write was logged */
static double start_s;

/* Unix time now, in seconds. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ps_metrics_init(void)
{
    start_s = wall_now();
}

void ps_metrics_after_fork_child(void)
{
    start_s = wall_now();
    next_write_ms = 0;
    writing = 0; /* a parent thread may have been writing: not in this process */
    written_pid = 0;
}

/* ---- The exposition ---------------------------------------------------------------------- */

/* Writes S with the escapes of a label value (QUOTED) or a HELP text. */
static void put_escaped(FILE *out, const char *s, bool quoted)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '"' && quoted)
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* The HELP and TYPE lines of NAME, when NAME is not the family just written (*PREV). */
static void family(FILE *out, const char **prev, const char *name, const char *type,
                   const char *help)
{
    if (*prev && strcmp(*prev, name) == 0)
        return;
    *prev = name;
    fprintf(out, "# HELP %s ", name);
    put_escaped(out, help, false);
    fprintf(out, "\n# TYPE %s %s\n", name, strcmp(type, "COUNTER") == 0 ? "counter" : "gauge");
}

/* One series: NAME{pid,program[,dsn][,LABELS]} VALUE. */
static void series(FILE *out, const ps_metrics_process *proc, const char *name, const char *dsn,
                   const char *labels, double value)
{
    fprintf(out, "%s{pid=\"%ld\",program=\"", name, proc->pid);
    put_escaped(out, proc->program ? proc->program : "", true);
    if (dsn) {
        fputs("\",dsn=\"", out);
        put_escaped(out, dsn, true);
    }
    fprintf(out, "\"%s%s} %.15g\n", *labels ? "," : "", labels, value);
}

/* The per-process rows of metrics.def. */
static void format_process(FILE *out, const ps_metrics_process *proc, const char **prev)
{
#define PS_METRIC(name, TYPE, labels, help, source)
#define PS_METRIC_PROCESS(name, TYPE, help, source)                                                \
    family(out, prev, "poolshim_" #name, #TYPE, help);                                             \
    series(out, proc, "poolshim_" #name, NULL, "", (double)(source));
#include "poolshim/metrics.def"
#undef PS_METRIC
#undef PS_METRIC_PROCESS
}

/* The per-key rows of metrics.def, each for the N snapshots POOLS. */
static void format_pools(FILE *out, const ps_metrics_process *proc, const ps_pool_snapshot *pools,
                         size_t n, const char **prev)
{
#define PS_METRIC_PROCESS(name, TYPE, help, source)
#define PS_METRIC(name, TYPE, labels, help, source)                                                \
    family(out, prev, "poolshim_" #name, #TYPE, help);                                             \
    for (size_t i = 0; i < n; i++) {                                                               \
        const ps_pool_snapshot *s = &pools[i];                                                     \
        series(out, proc, "poolshim_" #name, s->label, labels, (double)(source));                  \
    }
#include "poolshim/metrics.def"
#undef PS_METRIC
#undef PS_METRIC_PROCESS
}

int ps_metrics_format(FILE *out, const ps_metrics_process *proc, const ps_pool_snapshot *pools,
                      size_t n)
{
    const char *prev = NULL;
    format_process(out, proc, &prev);
    format_pools(out, proc, pools, n, &prev);
    return ferror(out) ? -1 : 0;
}

/* ---- The file ---------------------------------------------------------------------------- */

/* Snapshots collected by ps_pool_foreach. */
typedef struct snapshots {
    ps_pool_snapshot *v;
    size_t n, cap;
    bool oom;
} snapshots;

static void collect(const ps_pool_snapshot *s, void *ctx)
{
    snapshots *all = ctx;
    if (all->n == all->cap) {
        size_t cap = all->cap ? all->cap * 2 : 8;
        ps_pool_snapshot *v = realloc(all->v, cap * sizeof *v);
        if (!v) {
            all->oom = true;
            return;
        }
        all->v = v;
        all->cap = cap;
    }
    all->v[all->n++] = *s; /* the label lives as long as its pool: for ever */
}

/* The exposition now, malloc'd in *BUF (*LEN bytes); false on OOM. */
static bool render(char **buf, size_t *len)
{
    snapshots all = {0};
    ps_pool_foreach(collect, &all);
    ps_metrics_process proc = {start_s, wall_now(), (long)getpid(), program_invocation_short_name};
    FILE *out = all.oom ? NULL : open_memstream(buf, len);
    bool ok = out != NULL;
    if (out) {
        ok = ps_metrics_format(out, &proc, all.v, all.n) == 0;
        ok = fclose(out) == 0 && ok;
        if (!ok)
            free(*buf);
    }
    free(all.v);
    return ok;
}

/* Writes LEN bytes of BUF to a new file TMP (mode 0600) renamed to PATH. Returns 0, or the
 * errno of the step that failed (TMP removed). */
static int replace_file(const char *tmp, const char *path, const char *buf, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno;
    int err = fchmod(fd, 0600) == 0 ? 0 : errno; /* whatever the umask or an older file left */
    for (size_t done = 0; !err && done < len;) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w > 0)
            done += (size_t)w;
        else if (w == 0 || errno != EINTR)
            err = w == 0 ? EIO : errno;
    }
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    return err;
}

/* This process's file and its temporary (not *.prom: collectors skip it); false if too long. */
static bool file_names(char *path, char *tmp, size_t size, long pid)
{
    const char *dir = ps_cfg.metrics_dir;
    int a = snprintf(path, size, "%s/poolshim-%ld.prom", dir, pid);
    int b = snprintf(tmp, size, "%s/.poolshim-%ld.prom.tmp", dir, pid);
    return a > 0 && b > 0 && (size_t)a < size && (size_t)b < size;
}

/* Renders and writes the file; logs the first failure. The caller holds `writing`. */
static void write_file(void)
{
    char path[512], tmp[512], *buf = NULL;
    size_t len = 0;
    long pid = (long)getpid();
    if (!file_names(path, tmp, sizeof path, pid) || !render(&buf, &len))
        return;
    int err = replace_file(tmp, path, buf, len);
    free(buf);
    if (!err)
        __atomic_store_n(&written_pid, pid, __ATOMIC_SEQ_CST);
    else if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
        char quoted[2100];
        ps_warn(NULL,
                "cannot write the metrics file %s: %s (POOLSHIM_METRICS_DIR); pooling goes on "
                "without it",
                ps_log_quote(quoted, sizeof quoted, path, sizeof path), strerror(err));
    }
}

/* Removes this process's file if it wrote one. The caller holds `writing`. */
static void unlink_own(void)
{
    char path[512], tmp[512];
    long pid = (long)getpid();
    if (__atomic_load_n(&written_pid, __ATOMIC_SEQ_CST) == pid &&
        file_names(path, tmp, sizeof path, pid))
        unlink(path);
}

/* Takes the `writing` flag; false when another thread has it. */
static bool take_writing(void)
{
    int free_ = 0;
    return __atomic_compare_exchange_n(&writing, &free_, 1, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

void ps_metrics_tick(void)
{
    if (!ps_cfg.metrics_dir[0])
        return;
    int64_t now = ps_now_ms();
    if (now < __atomic_load_n(&next_write_ms, __ATOMIC_RELAXED) || !take_writing())
        return;
    if (!__atomic_load_n(&stopped, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&next_write_ms, now + 1000, __ATOMIC_RELAXED);
        write_file();
    }
    __atomic_store_n(&writing, 0, __ATOMIC_SEQ_CST);
    /* An exit while this thread wrote could not remove the file: remove it now. */
    if (__atomic_load_n(&stopped, __ATOMIC_SEQ_CST) && take_writing()) {
        unlink_own();
        __atomic_store_n(&writing, 0, __ATOMIC_SEQ_CST);
    }
}

void ps_metrics_remove(void)
{
    __atomic_store_n(&stopped, 1, __ATOMIC_SEQ_CST);
    if (!ps_cfg.metrics_dir[0] || !take_writing())
        return; /* a writer is at work: it removes the file when it is done */
    unlink_own();
    __atomic_store_n(&writing, 0, __ATOMIC_SEQ_CST);
}
