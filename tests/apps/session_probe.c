/* session_probe SCENARIO [--tcp] [--stack]
 *
 * A legacy-style program that proves no session state crosses a lease: it connects (handle A),
 * records CONNECTION_ID(), dirties the session the SCENARIO's way, closes A; then connects again
 * (handle B) with the same DSN and checks that B's session is exactly a fresh one.
 * Prints: reused=<1 if B got A's server connection> clean=<1|0> detail=<what was seen>.
 * Exit 0 when clean. --stack uses MYSQL structs on the stack instead of mysql_init(NULL). */
#include "app_common.h"

static bool use_tcp, use_stack;

/* Connects handle M (initialised here) with the sandbox DSN and optional init command. */
static MYSQL *open_handle(MYSQL *storage, const char *init_command)
{
    MYSQL *m = mysql_init(use_stack ? storage : NULL);
    if (init_command)
        mysql_options(m, MYSQL_INIT_COMMAND, init_command);
    app_dsn d = app_user_dsn(use_tcp);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* One scenario: INIT (or NULL) is the init command of both handles; DIRTY runs on A; CHECK
 * runs on B and returns NULL when clean, else what leaked. */
typedef struct scenario {
    const char *name;
    const char *init;
    void (*dirty)(MYSQL *a);
    const char *(*check)(MYSQL *b);
} scenario;

static char detail[512];

static void dirty_user_var(MYSQL *a)
{
    app_run(a, "SET @leak = 'secret'");
}
static const char *check_user_var(MYSQL *b)
{
    return app_expect(b, "SELECT @leak", "NULL");
}

static void dirty_temp_table(MYSQL *a)
{
    app_run(a, "CREATE TEMPORARY TABLE leak_tmp (x INT)");
}
static const char *check_temp_table(MYSQL *b)
{
    if (mysql_query(b, "SELECT COUNT(*) FROM leak_tmp") == 0) {
        mysql_free_result(mysql_store_result(b));
        return "temporary table leak_tmp still exists";
    }
    return mysql_errno(b) == 1146 ? NULL : mysql_error(b);
}

static void dirty_session_var(MYSQL *a)
{
    app_run(a, "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 77");
}
static const char *check_session_var(MYSQL *b)
{
    const char *r = app_expect(b, "SELECT @@session.wait_timeout = @@global.wait_timeout", "1");
    return r ? r : app_expect(b, "SELECT @@session.sql_mode = @@global.sql_mode", "1");
}

static void dirty_sql_prepare(MYSQL *a)
{
    app_run(a, "PREPARE leak_stmt FROM 'SELECT 1'");
}
static const char *check_sql_prepare(MYSQL *b)
{
    if (mysql_query(b, "EXECUTE leak_stmt") == 0) {
        mysql_free_result(mysql_store_result(b));
        return "SQL prepared statement leak_stmt still exists";
    }
    return mysql_errno(b) == 1243 ? NULL : mysql_error(b);
}

static void dirty_open_txn(MYSQL *a)
{
    app_run(a, "BEGIN");
    app_run(a, "INSERT INTO items (v) VALUES ('uncommitted-probe')");
}
static const char *check_open_txn(MYSQL *b)
{
    const char *r = app_expect(b, "SELECT COUNT(*) FROM items WHERE v = 'uncommitted-probe'", "0");
    if (!r && (b->server_status & SERVER_STATUS_IN_TRANS))
        r = "client still sees SERVER_STATUS_IN_TRANS";
    return r ? r : app_expect(b, "SELECT @@in_transaction", "0");
}

static void dirty_autocommit(MYSQL *a)
{
    mysql_autocommit(a, 0);
}
static const char *check_autocommit(MYSQL *b)
{
    if (!(b->server_status & SERVER_STATUS_AUTOCOMMIT))
        return "client-side server_status lacks SERVER_STATUS_AUTOCOMMIT";
    return app_expect(b, "SELECT @@autocommit", "1");
}

static void dirty_use_db(MYSQL *a)
{
    app_run(a, "USE t2");
}
static const char *check_use_db(MYSQL *b)
{
    return app_expect(b, "SELECT DATABASE()", app_env("PSTEST_DB"));
}

static void dirty_select_db(MYSQL *a)
{
    if (mysql_select_db(a, "t2"))
        app_die(mysql_errno(a), "select_db: %s", mysql_error(a));
}

static void dirty_set_names(MYSQL *a)
{
    app_run(a, "SET NAMES latin1");
}
static const char *check_set_names(MYSQL *b)
{
    static char fresh[64];
    MYSQL *f = mysql_init(NULL); /* what a fresh connect says client-side */
    snprintf(fresh, sizeof fresh, "%s", mysql_character_set_name(f));
    mysql_close(f);
    if (strcmp(mysql_character_set_name(b), fresh)) {
        snprintf(detail, sizeof detail, "client-side charset %s, fresh handle says %s",
                 mysql_character_set_name(b), fresh);
        return detail;
    }
    return app_expect(b, "SELECT @@character_set_client", fresh);
}

static void dirty_lock_tables(MYSQL *a)
{
    app_run(a, "CREATE TABLE IF NOT EXISTS probe_other (x INT)");
    app_run(a, "LOCK TABLES items WRITE");
}
static const char *check_lock_tables(MYSQL *b)
{
    if (mysql_query(b, "SELECT COUNT(*) FROM probe_other")) /* 1100: table not locked */
        return "session still under LOCK TABLES";
    mysql_free_result(mysql_store_result(b));
    return NULL;
}

static void dirty_get_lock(MYSQL *a)
{
    app_run(a, "SELECT GET_LOCK('poolshim_probe', 0)");
}
static const char *check_get_lock(MYSQL *b)
{
    return app_expect(b, "SELECT IS_USED_LOCK('poolshim_probe')", "NULL");
}

static void dirty_init_effect(MYSQL *a)
{
    app_run(a, "SET time_zone = '+00:00', @init = 0");
}
static const char *check_init_effect(MYSQL *b)
{
    const char *r = app_expect(b, "SELECT @init", "42");
    return r ? r : app_expect(b, "SELECT @@time_zone", "+05:00");
}

static void dirty_last_insert_id(MYSQL *a)
{
    app_run(a, "INSERT INTO items (v) VALUES ('lid-probe')");
}
static const char *check_last_insert_id(MYSQL *b)
{
    if (mysql_insert_id(b) != 0)
        return "mysql_insert_id() not 0 after connect";
    return app_expect(b, "SELECT LAST_INSERT_ID()", "0");
}

/* Prepares, binds 41, executes "SELECT ? + 1" and returns the result (binary protocol). */
static long long stmt_roundtrip(MYSQL *m, MYSQL_STMT **keep)
{
    MYSQL_STMT *s = mysql_stmt_init(m);
    const char *q = "SELECT ? + 1";
    long long in = 41, out = 0;
    MYSQL_BIND p = {0}, r = {0};
    p.buffer_type = r.buffer_type = MYSQL_TYPE_LONGLONG;
    p.buffer = &in;
    r.buffer = &out;
    if (mysql_stmt_prepare(s, q, strlen(q)) || mysql_stmt_bind_param(s, &p) ||
        mysql_stmt_execute(s) || mysql_stmt_bind_result(s, &r) || mysql_stmt_fetch(s))
        app_die(mysql_stmt_errno(s), "stmt: %s", mysql_stmt_error(s));
    mysql_stmt_free_result(s);
    if (keep)
        *keep = s;
    else
        mysql_stmt_close(s);
    return out;
}

static void dirty_stmt(MYSQL *a)
{
    if (stmt_roundtrip(a, NULL) != 42)
        app_die(0, "prepared statement on the first lease gave a wrong result");
}
static const char *check_stmt(MYSQL *b)
{
    return stmt_roundtrip(b, NULL) == 42 ? NULL : "prepared statement gave a wrong result";
}

static const scenario scenarios[] = {
    {"user_var", NULL, dirty_user_var, check_user_var},
    {"temp_table", NULL, dirty_temp_table, check_temp_table},
    {"session_var", NULL, dirty_session_var, check_session_var},
    {"sql_prepare", NULL, dirty_sql_prepare, check_sql_prepare},
    {"open_txn", NULL, dirty_open_txn, check_open_txn},
    {"autocommit", NULL, dirty_autocommit, check_autocommit},
    {"use_db", NULL, dirty_use_db, check_use_db},
    {"select_db", NULL, dirty_select_db, check_use_db},
    {"set_names", NULL, dirty_set_names, check_set_names},
    {"lock_tables", NULL, dirty_lock_tables, check_lock_tables},
    {"get_lock", NULL, dirty_get_lock, check_get_lock},
    {"init_command", "SET @init = 42, time_zone = '+05:00'", dirty_init_effect, check_init_effect},
    {"last_insert_id", NULL, dirty_last_insert_id, check_last_insert_id},
    {"stmt", NULL, dirty_stmt, check_stmt},
};

int main(int argc, char **argv)
{
    const scenario *sc = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            use_tcp = true;
        else if (!strcmp(argv[i], "--stack"))
            use_stack = true;
        for (size_t j = 0; j < sizeof scenarios / sizeof *scenarios; j++)
            if (!strcmp(argv[i], scenarios[j].name))
                sc = &scenarios[j];
    }
    if (!sc)
        app_die(0, "usage: session_probe SCENARIO [--tcp] [--stack]");
    MYSQL sa, sb;
    MYSQL *a = open_handle(&sa, sc->init);
    char *id_a = app_scalar(a, "SELECT CONNECTION_ID()");
    sc->dirty(a);
    mysql_close(a);
    MYSQL *b = open_handle(&sb, sc->init);
    char *id_b = app_scalar(b, "SELECT CONNECTION_ID()");
    const char *leak = sc->check(b);
    printf("reused=%d\nclean=%d\ndetail=%s\n", !strcmp(id_a, id_b), leak == NULL,
           leak ? leak : "fresh");
    mysql_close(b);
    free(id_a);
    free(id_b);
    return leak ? 1 : 0;
}
