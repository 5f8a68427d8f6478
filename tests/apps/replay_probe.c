/* replay_probe SCENARIO [--reconnect]
 *
 * What a program sees, statement by statement, when its idle handle is reaped and the session
 * cannot be given back as it was (issue 9 item 5), or when it asks for the last statement's
 * diagnostics after a reap (item 6). Connects handle A (the PSTEST_USER DSN, database
 * PSTEST_DB), runs the SCENARIO's steps and prints one line per step:
 *   <name>=ok:<rows>   the statement succeeded; <rows> is every row, columns joined by '|' and
 *                      rows by ';' (empty for none)
 *   <name>=err:<errno> it failed
 *   b<n>=<errno>       a second handle B with A's DSN was connected (0) or refused, then closed:
 *                      under POOLSHIM_MAX_PER_KEY=1 that connect takes A's connection when A is
 *                      reapable (a reap), and fails with 1040 when it is not (with
 *                      POOLSHIM_WAIT_TIMEOUT_MS=0)
 *   db=<name>          the database A's handle says it is in (client-side, no statement)
 *   <name>=delta:<n>   a session status counter's growth since the step that saved it
 * Admin steps (another user, so another pool key) change the server under A: drop or revoke
 * the database A is in, and bring it back. --reconnect sets MYSQL_OPT_RECONNECT on A. Exits 0
 * unless something outside the compared statements fails (then error=). The objects it uses
 * (database rp_db2 with rp_t, and t.rp_t, t.rp_rows, t.rp_scratch) are made by
 * tests/integration/test_replay.c before each run. */
#include "app_common.h"

enum op_kind {
    A,       /* a statement on A, printed */
    REAP,    /* connect and close B */
    ADMIN,   /* a statement on the admin connection (dies on failure) */
    REVOKE,  /* revoke the app user's privileges on rp_db2 */
    GRANT,   /* grant them back */
    A_USE,   /* mysql_select_db on A (the op's sql is the database), printed */
    A_RECON, /* mariadb_reconnect on A, printed */
    A_DB,    /* print the database A's handle names */
    A_SAVE,  /* read a status counter (the statement's second column) and keep it */
    A_DELTA, /* read it again and print its growth */
    STOP,    /* the end of the scenario */
};

typedef struct op {
    enum op_kind kind;
    const char *name;
    const char *sql;
} op;

typedef struct scenario {
    const char *name;
    const op *ops;
} scenario;

#define END                                                                                        \
    {                                                                                              \
        STOP, NULL, NULL                                                                           \
    }
#define COUNT_DB2 "SELECT COUNT(*) FROM rp_t"
#define REMAKE_DB2                                                                                 \
    {ADMIN, NULL, "CREATE DATABASE rp_db2"}, {ADMIN, NULL, "CREATE TABLE rp_db2.rp_t (x INT)"},    \
    {                                                                                              \
        ADMIN, NULL, "INSERT INTO rp_db2.rp_t VALUES (1), (2)"                                     \
    }

/* Item 5: USE rp_db2, reap, then rp_db2 is dropped. */
static const op drop_db[] = {
    {A, "s0", "USE rp_db2"},
    {A, "s1", COUNT_DB2},
    {REAP, "b1", NULL},
    {ADMIN, NULL, "DROP DATABASE rp_db2"},
    {A, "s2", COUNT_DB2},
    {A, "s3", COUNT_DB2},
    {A_DB, "db", NULL},
    {A, "s4", "SELECT DATABASE()"},
    {A, "s5", "SELECT COUNT(*) FROM t.rp_t"},
    {A, "s6", "INSERT INTO rp_t VALUES (9)"},
    REMAKE_DB2,
    {A, "s7", COUNT_DB2},
    {A, "s8", "SELECT DATABASE()"},
    END,
};

/* Item 5: the program calls mariadb_reconnect itself once rp_db2 is back (--reconnect). */
static const op drop_db_reconnect_call[] = {
    {A, "s0", "USE rp_db2"},
    {A, "s1", COUNT_DB2},
    {REAP, "b1", NULL},
    {ADMIN, NULL, "DROP DATABASE rp_db2"},
    {A, "s2", COUNT_DB2},
    REMAKE_DB2,
    {A_RECON, "r1", NULL},
    {A, "s3", COUNT_DB2},
    {A, "s4", "SELECT DATABASE()"},
    END,
};

/* Item 5: the same with the program's own mysql_select_db, and a revoke instead of a drop. */
static const op revoke_db[] = {
    {A_USE, "s0", "rp_db2"},
    {A, "s1", COUNT_DB2},
    {REAP, "b1", NULL},
    {REVOKE, NULL, NULL},
    {A, "s2", COUNT_DB2},
    {A, "s3", COUNT_DB2},
    {A_DB, "db", NULL},
    {A, "s4", "SELECT DATABASE()"},
    {A, "s5", "INSERT INTO rp_t VALUES (9)"},
    {A, "s6", "SELECT COUNT(*) FROM t.rp_t"},
    {GRANT, NULL, NULL},
    {A, "s7", "SELECT DATABASE()"},
    {A, "s8", "SELECT COUNT(*) FROM rp_t WHERE x < 9"},
    END,
};

/* Item 5 control: nothing happens to rp_db2, the reaped handle goes on in it. */
static const op keep_db[] = {
    {A, "s0", "USE rp_db2"},
    {A, "s1", COUNT_DB2},
    {REAP, "b1", NULL},
    {A, "s2", COUNT_DB2},
    {A, "s3", COUNT_DB2},
    {A_DB, "db", NULL},
    {A, "s4", "SELECT DATABASE()"},
    END,
};

/* Item 6: FOUND_ROWS() after a plain SELECT of 7, 2500 and 0 rows; ROW_COUNT() after a SELECT,
 * DDL and a row-changing statement. */
static const op found_rows[] = {
    {A, "s1", "SELECT x FROM t.rp_rows WHERE x <= 7"},
    {REAP, "b1", NULL},
    {A, "s2", "SELECT FOUND_ROWS(), ROW_COUNT()"},
    END,
};
static const op found_rows_many[] = {
    {A, "s1", "SELECT COUNT(*) FROM t.rp_rows"},
    {A, "s2", "SELECT x FROM t.rp_rows"},
    {REAP, "b1", NULL},
    {A, "s3", "SELECT FOUND_ROWS(), ROW_COUNT()"},
    END,
};
static const op found_rows_none[] = {
    {A, "s1", "SELECT x FROM t.rp_rows WHERE x < 0"},
    {REAP, "b1", NULL},
    {A, "s2", "SELECT FOUND_ROWS(), ROW_COUNT()"},
    END,
};
static const op row_count_ddl[] = {
    {A, "s1", "SELECT x FROM t.rp_rows WHERE x <= 3"},
    {A, "s2", "CREATE OR REPLACE TABLE t.rp_ddl (a INT)"},
    {REAP, "b1", NULL},
    {A, "s3", "SELECT ROW_COUNT(), FOUND_ROWS()"},
    END,
};
static const op row_count_dml[] = {
    {A, "s1", "SELECT x FROM t.rp_rows WHERE x <= 3"},
    {A, "s2", "INSERT INTO t.rp_scratch (x) VALUES (1), (2)"},
    {REAP, "b1", NULL},
    {A, "s3", "SELECT ROW_COUNT(), FOUND_ROWS()"},
    END,
};

/* Item 6: the diagnostics area after a failed statement, a warning, and a later statement. */
static const op error_warnings[] = {
    {A, "s1", "SELECT nosuch FROM t.rp_t"},
    {REAP, "b1", NULL},
    {A, "s2", "SHOW WARNINGS"},
    {A, "s3", "SELECT @@error_count, @@warning_count"},
    END,
};
static const op error_diagnostics[] = {
    {A, "s1", "SELECT nosuch FROM t.rp_t"},
    {REAP, "b1", NULL},
    {A, "s2", "GET DIAGNOSTICS CONDITION 1 @rp_errno = MYSQL_ERRNO"},
    {A, "s3", "SELECT @rp_errno"},
    END,
};
static const op error_select_db[] = {
    {A, "s1", "USE rp_nosuch_db"},
    {REAP, "b1", NULL},
    {A, "s2", "SHOW ERRORS"},
    END,
};
static const op warning_note[] = {
    {A, "s1", "DROP TABLE IF EXISTS t.rp_nosuch_table"},
    {REAP, "b1", NULL},
    {A, "s2", "SHOW WARNINGS"},
    END,
};
static const op error_then_table[] = {
    {A, "s1", "SELECT nosuch FROM t.rp_t"},
    {A, "s2", "SELECT COUNT(*) FROM t.rp_t"},
    {REAP, "b1", NULL},
    {A, "s3", "SHOW WARNINGS"},
    END,
};
static const op error_then_tableless[] = {
    {A, "s1", "SELECT nosuch FROM t.rp_t"},
    {A, "s2", "SELECT 1"},
    {REAP, "b1", NULL},
    {A, "s3", "SHOW WARNINGS"},
    END,
};

/* Item 6: session status counters read twice by the program. */
static const op session_status[] = {
    {A_SAVE, "s1", "SHOW SESSION STATUS LIKE 'Com_select'"},
    {A, "s2", "SELECT 1"},
    {A, "s3", "SELECT 2"},
    {REAP, "b1", NULL},
    {A_DELTA, "s4", "SHOW SESSION STATUS LIKE 'Com_select'"},
    END,
};
static const op session_status_schema[] = {
    {A_SAVE, "s1",
     "SELECT 'Com_select', VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
     "WHERE VARIABLE_NAME = 'COM_SELECT'"},
    {A, "s2", "SELECT 1"},
    {REAP, "b1", NULL},
    {A_DELTA, "s3",
     "SELECT 'Com_select', VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
     "WHERE VARIABLE_NAME = 'COM_SELECT'"},
    END,
};

static const scenario scenarios[] = {
    {"drop_db", drop_db},
    {"drop_db_reconnect_call", drop_db_reconnect_call},
    {"revoke_db", revoke_db},
    {"keep_db", keep_db},
    {"found_rows", found_rows},
    {"found_rows_many", found_rows_many},
    {"found_rows_none", found_rows_none},
    {"row_count_ddl", row_count_ddl},
    {"row_count_dml", row_count_dml},
    {"error_warnings", error_warnings},
    {"error_diagnostics", error_diagnostics},
    {"error_select_db", error_select_db},
    {"warning_note", warning_note},
    {"error_then_table", error_then_table},
    {"error_then_tableless", error_then_tableless},
    {"session_status", session_status},
    {"session_status_schema", session_status_schema},
};

static bool reconnect;

/* A new handle for the app user's DSN over the socket, or death. */
static MYSQL *open_app(void)
{
    MYSQL *m = mysql_init(NULL);
    my_bool on = reconnect;
    mysql_options(m, MYSQL_OPT_RECONNECT, &on);
    app_dsn d = app_user_dsn(false);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* The admin connection (no database), or death. */
static MYSQL *open_admin(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, "localhost", app_env("PSTEST_ADMIN_USER"),
                            app_env("PSTEST_ADMIN_PASSWORD"), NULL, 0, app_env("PSTEST_SOCKET"), 0))
        app_die(mysql_errno(m), "admin connect: %s", app_error(m));
    return m;
}

/* Prints every row of RES after "ok:" (columns joined by '|', rows by ';'). */
static void print_rows(MYSQL_RES *res)
{
    printf("ok:");
    MYSQL_ROW row;
    for (int n = 0; res && (row = mysql_fetch_row(res)) != NULL; n++) {
        printf("%s", n ? ";" : "");
        for (unsigned i = 0; i < mysql_num_fields(res); i++)
            printf("%s%s", i ? "|" : "", row[i] ? row[i] : "NULL");
    }
}

/* Runs SQL on A and prints NAME's line. */
static void step(MYSQL *a, const char *name, const char *sql)
{
    printf("%s=", name);
    if (mysql_query(a, sql)) {
        printf("err:%u\n", mysql_errno(a));
        return;
    }
    MYSQL_RES *res = mysql_store_result(a);
    if (!res && mysql_field_count(a))
        printf("err:%u", mysql_errno(a));
    else
        print_rows(res);
    printf("\n");
    mysql_free_result(res);
}

/* The second column of SQL's first row on A as a number; -1 when the statement failed. */
static long long status_value(MYSQL *a, const char *sql)
{
    if (mysql_query(a, sql))
        return -1;
    MYSQL_RES *res = mysql_store_result(a);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    long long v = row && row[1] ? atoll(row[1]) : -1;
    mysql_free_result(res);
    return v;
}

/* Connects and closes B; prints NAME=<errno of the connect>. */
static void reap(const char *name)
{
    MYSQL *b = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    bool ok = app_connect(b, &d) != NULL;
    printf("%s=%u\n", name, ok ? 0 : mysql_errno(b));
    mysql_close(b);
}

/* Revokes (or grants, GRANT) the app user's privileges on rp_db2 at both of its hosts. */
static void privileges(MYSQL *admin, bool grant)
{
    char sql[256];
    const char *user = app_env("PSTEST_USER");
    snprintf(sql, sizeof sql, "%s ALL ON rp_db2.* %s '%s'@'localhost', '%s'@'%%'",
             grant ? "GRANT" : "REVOKE", grant ? "TO" : "FROM", user, user);
    app_run(admin, sql);
}

/* Runs one step O of the scenario on A (and the admin connection). */
static void run_op(MYSQL *a, MYSQL *admin, const op *o, long long *saved)
{
    const char *db = NULL;
    switch (o->kind) {
    case A:
        step(a, o->name, o->sql);
        break;
    case REAP:
        reap(o->name);
        break;
    case A_USE:
        if (mysql_select_db(a, o->sql))
            printf("%s=err:%u\n", o->name, mysql_errno(a));
        else
            printf("%s=ok:\n", o->name);
        break;
    case ADMIN:
        app_run(admin, o->sql);
        break;
    case REVOKE:
    case GRANT:
        privileges(admin, o->kind == GRANT);
        break;
    case A_RECON:
        if (mariadb_reconnect(a))
            printf("%s=err:%u\n", o->name, mysql_errno(a));
        else
            printf("%s=ok:\n", o->name);
        break;
    case A_DB:
        mariadb_get_infov(a, MARIADB_CONNECTION_SCHEMA, &db);
        printf("%s=%s\n", o->name, db ? db : "NULL");
        break;
    case A_SAVE:
        *saved = status_value(a, o->sql);
        printf("%s=%s\n", o->name, *saved < 0 ? "err" : "saved");
        break;
    case A_DELTA:
        printf("%s=delta:%lld\n", o->name, status_value(a, o->sql) - *saved);
        break;
    case STOP:
        break;
    }
}

int main(int argc, char **argv)
{
    const scenario *sc = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reconnect"))
            reconnect = true;
        for (size_t j = 0; j < sizeof scenarios / sizeof *scenarios; j++)
            if (!strcmp(argv[i], scenarios[j].name))
                sc = &scenarios[j];
    }
    if (!sc)
        app_die(0, "usage: replay_probe SCENARIO [--reconnect]");
    MYSQL *admin = open_admin(), *a = open_app();
    long long saved = 0;
    for (const op *o = sc->ops; o->kind != STOP; o++)
        run_op(a, admin, o, &saved);
    fflush(stdout);
    mysql_close(a);
    mysql_close(admin);
    return 0;
}
