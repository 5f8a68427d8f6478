/* Shared bits of the test apps (header only: each tests/apps/<name>.c is built as one program).
 * Apps read the sandbox settings from the PSTEST_* environment, print results as key=value
 * lines on stdout, and exit 1 after printing "error=<errno>: <message>" on failure. */
#ifndef APP_COMMON_H
#define APP_COMMON_H

#include <mysql.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Where and as whom to connect, as passed to mysql_real_connect(). */
typedef struct {
    const char *host, *user, *password, *db, *socket;
    unsigned port;
    const char *tls_ca; /* non-NULL: TLS, verifying the server against this CA */
} app_dsn;

/* Prints "error=<code>: <message>" and exits 1. */
__attribute__((format(printf, 2, 3), noreturn)) static inline void app_die(unsigned code,
                                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("error=%u: ", code);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(1);
}

/* Value of environment variable NAME; dies when it is unset or empty. */
static inline const char *app_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        app_die(0, "%s not set (source the sandbox env file)", name);
    return v;
}

/* The app user's DSN: TCP to PSTEST_HOST:PSTEST_PORT, or the unix socket PSTEST_SOCKET. */
static inline app_dsn app_user_dsn(bool tcp)
{
    app_dsn d = {.user = app_env("PSTEST_USER"),
                 .password = app_env("PSTEST_PASSWORD"),
                 .db = app_env("PSTEST_DB")};
    if (tcp) {
        d.host = app_env("PSTEST_HOST");
        d.port = (unsigned)atoi(app_env("PSTEST_PORT"));
    } else {
        d.host = "localhost";
        d.socket = app_env("PSTEST_SOCKET");
    }
    return d;
}

/* The app user's DSN over TLS to PSTEST_HOST:PSTEST_PORT, verified with PSTEST_TLS_CA. */
static inline app_dsn app_tls_dsn(void)
{
    app_dsn d = app_user_dsn(true);
    d.tls_ca = app_env("PSTEST_TLS_CA");
    return d;
}

/* mysql_real_connect() with D (and D's TLS options set on M first). */
static inline MYSQL *app_connect(MYSQL *m, const app_dsn *d)
{
    if (d->tls_ca) {
        my_bool verify = 1;
        mysql_optionsv(m, MYSQL_OPT_SSL_CA, d->tls_ca);
        mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    return mysql_real_connect(m, d->host, d->user, d->password, d->db, d->port, d->socket, 0);
}

/* Runs SQL and reads (then frees) its whole result; returns false on failure (details in
 * mysql_errno/mysql_error of M). */
static inline bool app_query(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql) != 0)
        return false;
    MYSQL_RES *res = mysql_store_result(m);
    if (!res)
        return mysql_field_count(m) == 0;
    while (mysql_fetch_row(res))
        ;
    mysql_free_result(res);
    return true;
}

/* The error text of M, or a placeholder when the client library set none. */
static inline const char *app_error(MYSQL *m)
{
    const char *e = m ? mysql_error(m) : NULL;
    return e && *e ? e : "(failed without an error message)";
}

/* Monotonic clock in seconds. */
static inline double app_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses a non-negative integer option value; dies on garbage. */
static inline long app_long_arg(const char *opt, const char *v)
{
    char *end;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || n < 0)
        app_die(0, "%s needs a non-negative integer", opt);
    return n;
}

/* First column of the first row of SQL on M as a malloc'd string ("NULL" for SQL NULL); dies
 * on error. */
static inline char *app_scalar(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql))
        app_die(mysql_errno(m), "%s: %s", sql, mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    char *v = strdup(row && row[0] ? row[0] : "NULL");
    mysql_free_result(r);
    return v;
}

/* First column of the first row of SQL on M as a malloc'd string; NULL when the query failed
 * or returned no value (for programs that count failures instead of dying). */
static inline char *app_value(MYSQL *m, const char *sql)
{
    MYSQL_RES *r = mysql_query(m, sql) ? NULL : mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    char *v = row && row[0] ? strdup(row[0]) : NULL;
    mysql_free_result(r);
    return v;
}

/* Runs "SELECT 'WANT'" on M (NULL: counts an error) and counts a failure into *ERRORS, an
 * answer other than WANT into *WRONG. */
static inline void app_count_tag(MYSQL *m, const char *want, long *wrong, long *errors)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT '%s'", want);
    char *v = m ? app_value(m, sql) : NULL;
    if (!v)
        (*errors)++;
    else if (strcmp(v, want))
        (*wrong)++;
    free(v);
}

/* A connected handle (MYSQL_OPT_RECONNECT set when RECONNECT), or NULL. */
static inline MYSQL *app_open_handle(bool reconnect)
{
    MYSQL *m = mysql_init(NULL);
    my_bool on = 1;
    if (reconnect)
        mysql_optionsv(m, MYSQL_OPT_RECONNECT, &on);
    app_dsn d = app_user_dsn(false);
    if (app_connect(m, &d))
        return m;
    mysql_close(m);
    return NULL;
}

/* A thread that connects (app_open_handle(reconnect)), runs "SELECT 'r<i>'" and closes, round
 * after round until stop is set, counting as app_count_tag does: start it with app_churn_run. */
typedef struct app_churn {
    int stop;
    bool reconnect;
    long wrong, errors;
} app_churn;

/* The body of an app_churn thread (ARG: its app_churn). */
static inline void *app_churn_run(void *arg)
{
    app_churn *c = arg;
    char want[32];
    for (long i = 0; !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
        MYSQL *m = app_open_handle(c->reconnect);
        snprintf(want, sizeof want, "r%ld", i);
        app_count_tag(m, want, &c->wrong, &c->errors);
        if (m)
            mysql_close(m);
    }
    return NULL;
}

/* A probe's problems: errors and wrong answers, and the first one's text. */
typedef struct app_problems {
    long errors, wrong;
    char first[512];
} app_problems;

/* Counts in P a problem with WHAT on M (NULL: none): a wrong answer when IS_WRONG, else an
 * error; the first one's text keeps M's error. */
static inline void app_problem(app_problems *p, bool is_wrong, const char *what, MYSQL *m)
{
    if (!p->errors && !p->wrong)
        snprintf(p->first, sizeof p->first, "%s: %u %s", what, m ? mysql_errno(m) : 0,
                 m ? app_error(m) : "");
    if (is_wrong)
        p->wrong++;
    else
        p->errors++;
}

/* Prints P ("errors=", "wrong=", "first_problem=" lines); returns the exit status: 1 when
 * there was any problem. */
static inline int app_report(const app_problems *p)
{
    printf("errors=%ld\nwrong=%ld\nfirst_problem=%s\n", p->errors, p->wrong, p->first);
    return p->errors || p->wrong ? 1 : 0;
}

/* A LOAD DATA LOCAL INFILE file of one row ("1") whose read runs BEFORE (NULL: nothing) first,
 * inside the library's read: install it with app_infile_set. */
typedef struct app_infile {
    void (*before)(void);
    bool given;
} app_infile;

static inline int app_infile_init(void **ptr, const char *name, void *data)
{
    (void)name;
    *ptr = data;
    return 0;
}

static inline int app_infile_read(void *ptr, char *buf, unsigned int len)
{
    app_infile *f = ptr;
    if (f->given || len < 2)
        return 0;
    if (f->before)
        f->before();
    f->given = true;
    memcpy(buf, "1\n", 2);
    return 2;
}

static inline void app_infile_end(void *ptr)
{
    (void)ptr;
}

static inline int app_infile_error(void *ptr, char *msg, unsigned int len)
{
    (void)ptr;
    snprintf(msg, len, "infile");
    return 1;
}

/* Makes F (its row not yet given) the LOCAL INFILE file of M's next LOAD DATA. */
static inline void app_infile_set(MYSQL *m, app_infile *f)
{
    f->given = false;
    mysql_set_local_infile_handler(m, app_infile_init, app_infile_read, app_infile_end,
                                   app_infile_error, f);
}

/* A new connection as PSTEST_ADMIN_USER over PSTEST_SOCKET (no database); dies on error. */
static inline MYSQL *app_admin(void)
{
    MYSQL *a = mysql_init(NULL);
    if (!a ||
        !mysql_real_connect(a, "localhost", app_env("PSTEST_ADMIN_USER"),
                            app_env("PSTEST_ADMIN_PASSWORD"), NULL, 0, app_env("PSTEST_SOCKET"), 0))
        app_die(a ? mysql_errno(a) : 0, "admin connect: %s", app_error(a));
    return a;
}

/* Runs SQL on M (results read and freed) or dies. */
static inline void app_run(MYSQL *m, const char *sql)
{
    if (!app_query(m, sql))
        app_die(mysql_errno(m), "%s: %s", sql, mysql_error(m));
}

/* Runs SQL on a connection of its own as the admin (see app_admin); dies on error. */
static inline void app_admin_run(const char *sql)
{
    MYSQL *admin = app_admin();
    app_run(admin, sql);
    mysql_close(admin);
}

/* Kills server connection ID from a separate admin connection (PSTEST_ADMIN_*); dies on error. */
static inline void app_kill(unsigned long id)
{
    char sql[64];
    snprintf(sql, sizeof sql, "KILL %lu", id);
    app_admin_run(sql);
}

/* NULL when the first value of SQL on M is WANT, else a description in a static buffer. */
static inline const char *app_expect(MYSQL *m, const char *sql, const char *want)
{
    static char detail[512];
    char *got = app_scalar(m, sql);
    const char *r = NULL;
    if (strcmp(got, want)) {
        snprintf(detail, sizeof detail, "%s gave '%s', expected '%s'", sql, got, want);
        r = detail;
    }
    free(got);
    return r;
}

#endif
