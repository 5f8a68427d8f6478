/* leaky: the "legacy" program of the demo. Per request it opens a new connection as the app user
 * (mysql_init(NULL) + mysql_real_connect), runs one query, and then forgets the handle unless
 * --close is given.
 *
 *   leaky [--tcp] [--close] [--requests N] [--hold K] [--select1] [--dirty] [--max-errors E]
 *
 *   --tcp          connect to PSTEST_HOST:PSTEST_PORT instead of the socket PSTEST_SOCKET
 *   --close        mysql_close() each handle; without it handles are leaked (never closed, kept
 *                  in a global list so valgrind reports them as reachable, not lost)
 *   --requests N   number of requests (default 100)
 *   --hold K       with --close: keep the last K connections open; each is closed just before
 *                  the connect K requests later (at most K in use at once); default 0
 *   --select1      run "SELECT 1" instead of "SELECT COUNT(*) FROM items"
 *   --dirty        run "CREATE TEMPORARY TABLE leak_t (i INT)" instead: each leaked session
 *                  holds a temporary table, so the shim may never reclaim it
 *   --max-errors E stop after E failed requests (default 0: never stop early)
 *
 * Prints requests (done), ok, errors, first_error, distinct_threads (distinct mysql_thread_id
 * values seen; first_error is empty when there were none); on errors it also prints
 * error=<first error> and exits 1. */
#include "app_common.h"

typedef struct {
    bool tcp, close, select1, dirty;
    long requests, hold, max_errors;
} options;

static MYSQL **leaked; /* every leaked handle, reachable until exit */
static size_t nleaked, leaked_cap;

/* Parses the command line into OPTS; dies on unknown options. */
static void parse(int argc, char **argv, options *o)
{
    *o = (options){.requests = 100};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--tcp"))
            o->tcp = true;
        else if (!strcmp(a, "--close"))
            o->close = true;
        else if (!strcmp(a, "--select1"))
            o->select1 = true;
        else if (!strcmp(a, "--dirty"))
            o->dirty = true;
        else if (!strcmp(a, "--requests"))
            o->requests = app_long_arg(a, i + 1 < argc ? argv[++i] : NULL);
        else if (!strcmp(a, "--hold"))
            o->hold = app_long_arg(a, i + 1 < argc ? argv[++i] : NULL);
        else if (!strcmp(a, "--max-errors"))
            o->max_errors = app_long_arg(a, i + 1 < argc ? argv[++i] : NULL);
        else
            app_die(0,
                    "usage: leaky [--tcp] [--close] [--requests N] [--hold K] [--select1] "
                    "[--max-errors E] (bad argument '%s')",
                    a);
    }
}

/* Keeps M forever (the leak). */
static void leak(MYSQL *m)
{
    if (nleaked == leaked_cap) {
        leaked_cap = leaked_cap ? leaked_cap * 2 : 256;
        leaked = realloc(leaked, leaked_cap * sizeof *leaked);
        if (!leaked)
            app_die(0, "out of memory");
    }
    leaked[nleaked++] = m;
}

/* qsort comparator for unsigned long. */
static int cmp_ul(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

/* Number of distinct values among the N ids (sorts IDS). */
static long count_distinct(unsigned long *ids, long n)
{
    long d = 0;
    qsort(ids, (size_t)n, sizeof *ids, cmp_ul);
    for (long i = 0; i < n; i++)
        d += (i == 0 || ids[i] != ids[i - 1]);
    return d;
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    app_dsn dsn = app_user_dsn(o.tcp);
    const char *sql = o.dirty     ? "CREATE TEMPORARY TABLE leak_t (i INT)"
                      : o.select1 ? "SELECT 1"
                                  : "SELECT COUNT(*) FROM items";
    unsigned long *ids = calloc((size_t)o.requests + 1, sizeof *ids);
    MYSQL **window = calloc((size_t)o.hold + 1, sizeof *window); /* ring of held handles */
    long done = 0, ok = 0, errors = 0, nids = 0, nheld = 0;
    unsigned first_code = 0;
    char first_msg[512] = "";
    if (!ids || !window)
        app_die(0, "out of memory");

    while (done < o.requests && (o.max_errors == 0 || errors < o.max_errors)) {
        done++;
        MYSQL **slot = (o.close && o.hold > 0) ? &window[nheld % o.hold] : NULL;
        if (slot && *slot) { /* the oldest held connection makes room for this one */
            mysql_close(*slot);
            *slot = NULL;
        }
        MYSQL *m = mysql_init(NULL);
        if (!m)
            app_die(0, "mysql_init failed");
        bool connected = app_connect(m, &dsn) != NULL;
        if (connected)
            ids[nids++] = mysql_thread_id(m);
        if (connected && app_query(m, sql)) {
            ok++;
        } else if (errors++ == 0) {
            first_code = mysql_errno(m);
            snprintf(first_msg, sizeof first_msg, "%s", app_error(m));
        }
        if (!o.close) {
            leak(m);
        } else if (slot && connected) {
            *slot = m;
            nheld++;
        } else {
            mysql_close(m);
        }
    }
    for (long i = 0; o.close && i < o.hold; i++)
        if (window[i])
            mysql_close(window[i]);

    printf("requests=%ld\nok=%ld\nerrors=%ld\n", done, ok, errors);
    if (errors)
        printf("first_error=%u: %s\n", first_code, first_msg);
    else
        printf("first_error=\n");
    printf("distinct_threads=%ld\n", count_distinct(ids, nids));
    free(ids);
    free(window);
    if (errors)
        printf("error=%u: %s\n", first_code, first_msg);
    return errors ? 1 : 0;
}
