/* classifier_probe SCENARIO [--idle-ms N]
 *
 * The statements that used to slip past the shim's statement classifier (issue 9 item 4), run
 * the way a leaky program runs them. Connects handle A, runs the SCENARIO's statement on it and
 * leaves it idle for --idle-ms (default 300), then connects and closes a second handle B with
 * the same DSN: under POOLSHIM_MAX_PER_KEY=1 that connect must take A's connection if A is
 * reapable. Then an outsider (user PSTEST_USER2: another pool key, so never A's connection)
 * tries what A's lock forbids, and A reads back what its statement left. Prints
 *   b_connect=<errno of B's connect, 0 when it connected>
 *   outsider=<the outsider's result: GET_LOCK's value, or the errno of its INSERT>
 *   value=<what A reads back>
 * and exits 0 (1 with error= on a failure the scenario does not expect). The test compares
 * outsider= and value= with the run without the shim. The tables, trigger, function and
 * sequence it uses are made by tests/integration/test_classifier.c. */
#include <errmsg.h>
#include <mysqld_error.h>
#include <unistd.h>

#include "app_common.h"

/* One scenario: how A connects, what it runs, what the outsider tries, what A reads back. */
typedef struct scenario {
    const char *name;
    bool admin;               /* A runs as PSTEST_ADMIN_USER (FLUSH ... needs RELOAD) */
    const char *init_command; /* MYSQL_INIT_COMMAND of A and B (NULL: none) */
    const char *statement;    /* what A runs */
    const char *outsider;     /* what the outsider runs (NULL: nothing) */
    const char *check;        /* what A reads back */
    const char *cleanup;      /* run on A at the end (NULL: nothing) */
} scenario;

static const scenario scenarios[] = {
    {"backtick_get_lock", false, NULL, "SELECT `GET_LOCK`('cls_jobs', 0)",
     "SELECT GET_LOCK('cls_jobs', 0)", "SELECT IS_USED_LOCK('cls_jobs') = CONNECTION_ID()",
     "DO RELEASE_LOCK('cls_jobs')"},
    {"ansi_get_lock", false, "SET SESSION sql_mode = 'ANSI_QUOTES'",
     "SELECT \"GET_LOCK\"('cls_jobs', 0)", "SELECT GET_LOCK('cls_jobs', 0)",
     "SELECT IS_USED_LOCK('cls_jobs') = CONNECTION_ID()", "DO RELEASE_LOCK('cls_jobs')"},
    {"no_backslash_escapes", false, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
     "SELECT 'a\\', @cls_v := 5, 'b'", NULL, "SELECT @cls_v", NULL},
    {"ansi_quotes", false, "SET SESSION sql_mode = 'ANSI_QUOTES'",
     "SELECT 1 AS \"a\\\", @cls_v := 5, 2 AS \"b\"", NULL, "SELECT @cls_v", NULL},
    {"backtick_last_insert_id", false, NULL, "SELECT `LAST_INSERT_ID`(99)", NULL,
     "SELECT LAST_INSERT_ID()", NULL},
    {"set_autocommit_get_lock", false, NULL, "SET autocommit = 1 * GET_LOCK('cls_jobs', 0)",
     "SELECT GET_LOCK('cls_jobs', 0)", "SELECT IS_USED_LOCK('cls_jobs') = CONNECTION_ID()",
     "DO RELEASE_LOCK('cls_jobs')"},
    {"stored_function_lock", false, NULL, "SELECT cls_lock_fn()", "SELECT GET_LOCK('cls_fn', 0)",
     "SELECT IS_USED_LOCK('cls_fn') = CONNECTION_ID()", "DO RELEASE_LOCK('cls_fn')"},
    {"trigger_user_var", false, NULL, "INSERT INTO cls_trig (x) VALUES (7)", NULL, "SELECT @cls_tv",
     NULL},
    {"flush_for_export", true, NULL, "FLUSH TABLES t.cls_export FOR EXPORT",
     "INSERT INTO cls_export (x) VALUES (1)", "SELECT 'still connected'", "UNLOCK TABLES"},
    {"flush_read_lock", true, NULL, "FLUSH TABLES WITH READ LOCK",
     "INSERT INTO cls_export (x) VALUES (2)", "SELECT 'still connected'", "UNLOCK TABLES"},
    {"clean_select", false, NULL, "SELECT COUNT(*), NOW() FROM cls_export", NULL,
     "SELECT DATABASE()", NULL},
    {"clean_insert", false, NULL, "INSERT INTO cls_plain (x) VALUES (1)", NULL,
     "SELECT LAST_INSERT_ID() > 0", NULL},
};

/* Connects a new heap handle as the app user (or the admin) with INIT as init command. Returns
 * NULL, with *ERR set, when the connect fails. */
static MYSQL *open_handle(bool admin, const char *init, unsigned *err)
{
    MYSQL *m = mysql_init(NULL);
    if (init)
        mysql_options(m, MYSQL_INIT_COMMAND, init);
    app_dsn d = app_user_dsn(false);
    if (admin) {
        d.user = app_env("PSTEST_ADMIN_USER");
        d.password = app_env("PSTEST_ADMIN_PASSWORD");
    }
    *err = 0;
    if (!app_connect(m, &d)) {
        *err = mysql_errno(m);
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* The outsider's attempt: a lock's value, or the errno of a write the lock must block. */
static void outsider(const char *sql)
{
    if (!sql) {
        printf("outsider=none\n");
        return;
    }
    MYSQL *o = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    d.user = app_env("PSTEST_USER2");
    d.password = app_env("PSTEST_PASSWORD2");
    if (!app_connect(o, &d))
        app_die(mysql_errno(o), "outsider connect: %s", app_error(o));
    app_run(o, "SET SESSION lock_wait_timeout = 1"); /* a blocked write fails with 1205 */
    if (!strncmp(sql, "SELECT", 6)) {
        char *v = app_scalar(o, sql);
        printf("outsider=%s\n", v);
        free(v);
        app_run(o, "DO RELEASE_ALL_LOCKS()");
    } else {
        printf("outsider=%u\n", app_query(o, sql) ? 0 : mysql_errno(o));
    }
    mysql_close(o);
}

int main(int argc, char **argv)
{
    const scenario *sc = NULL;
    long idle_ms = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc)
            idle_ms = app_long_arg("--idle-ms", argv[++i]);
        for (size_t j = 0; j < sizeof scenarios / sizeof *scenarios; j++)
            if (!strcmp(argv[i], scenarios[j].name))
                sc = &scenarios[j];
    }
    if (!sc)
        app_die(0, "usage: classifier_probe SCENARIO [--idle-ms N]");
    unsigned err;
    MYSQL *a = open_handle(sc->admin, sc->init_command, &err);
    if (!a)
        app_die(err, "connect A");
    app_run(a, sc->statement);
    usleep((useconds_t)idle_ms * 1000);
    MYSQL *b = open_handle(sc->admin, sc->init_command, &err); /* at the cap: reaps A if it can */
    printf("b_connect=%u\n", err);
    if (b)
        mysql_close(b);
    outsider(sc->outsider);
    char *v = app_scalar(a, sc->check);
    printf("value=%s\n", v);
    free(v);
    if (sc->cleanup)
        app_run(a, sc->cleanup);
    mysql_close(a);
    return 0;
}
