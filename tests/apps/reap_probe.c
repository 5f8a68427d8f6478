/* reap_probe SCENARIO [--tcp] [--reconnect] [--idle-ms N]
 *
 * A handle the program keeps open but idle, as leaky legacy code does. Connects handle A,
 * changes its session the SCENARIO's way, leaves it idle for --idle-ms (default 700), then
 * connects and closes another handle B (which lets the shim's housekeeping run), reads A's
 * client-side results without a call (a reaped handle is a husk: they must still be there),
 * and finally checks with real calls that A's session still is what the program made it:
 * replayable state (autocommit, database, charset, LAST_INSERT_ID, the session variables a
 * plain SET gave a literal value: session_settings) must have survived a reap
 * and re-lease; any other state means A must not have been reaped at all.
 * Then A must work normally: ping, a prepared statement, thread_id == CONNECTION_ID().
 * Prints intact=1|0 detail=... husk_ok=1|0 works=1|0; exit 0 when all hold. Run with
 * POOLSHIM_REAP_IDLE_MS below --idle-ms to make the shim reap.
 * Right after making A's session state it writes "reap_probe: state of handle 0x... made" to
 * stderr, so that the shim's debug lines after it ("reaped idle handle 0x...") show whether A
 * was reaped while holding that state (a reap before it, during a stall of a slow machine, is
 * legitimate: A was clean then). */
#include <sys/stat.h>
#include <unistd.h>

#include "app_common.h"

static bool use_tcp, reconnect;
static unsigned long long expected_count;

/* Connects a new heap handle or dies. */
static MYSQL *open_handle(void)
{
    MYSQL *m = mysql_init(NULL);
    my_bool on = reconnect; /* the program's own auto-reconnect setting must not matter */
    mysql_options(m, MYSQL_OPT_RECONNECT, &on);
    app_dsn d = app_user_dsn(use_tcp);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

static MYSQL_STMT *open_stmt;

static void d_user_var(MYSQL *a)
{
    app_run(a, "SET @kept = CONCAT('y', 'es')"); /* a literal would be replayed */
}
static const char *c_user_var(MYSQL *a)
{
    return app_expect(a, "SELECT @kept", "yes");
}
static void d_temp_table(MYSQL *a)
{
    app_run(a, "CREATE TEMPORARY TABLE kept_tmp (x INT)");
}
static const char *c_temp_table(MYSQL *a)
{
    return app_expect(a, "SELECT COUNT(*) FROM kept_tmp", "0");
}
static void d_session_var(MYSQL *a)
{
    app_run(a, "SET SESSION max_join_size = 1000"); /* not a variable the shim replays */
}
static const char *c_session_var(MYSQL *a)
{
    return app_expect(a, "SELECT @@session.max_join_size", "1000");
}
/* DBD::MariaDB's connect-time SETs, then more of the variables the shim reads back and sets
 * again (ps_sql_replayed_variables), character_set_results = NULL among them. */
static void d_settings(MYSQL *a)
{
    app_run(a, "SET NAMES 'utf8mb4'");
    app_run(a, "SET character_set_server = 'utf8mb4'");
    app_run(a, "SET collation_connection = 'utf8mb4_unicode_ci'");
    app_run(a, "SET collation_server = 'utf8mb4_unicode_ci'");
    app_run(a, "SET SESSION sql_mode = 'ANSI_QUOTES', @@session.time_zone := '+05:00', "
               "LOCAL wait_timeout = 77, sql_select_limit = 5, character_set_results = NULL");
}
static const char *c_settings(MYSQL *a)
{
    return app_expect(a,
                      "SELECT CONCAT_WS('|', @@character_set_server, @@collation_connection, "
                      "@@collation_server, @@sql_mode, @@time_zone, @@wait_timeout, "
                      "@@sql_select_limit, IFNULL(@@character_set_results, 'NULL'))",
                      "utf8mb4|utf8mb4_unicode_ci|utf8mb4_unicode_ci|ANSI_QUOTES|+05:00|77|5|NULL");
}
static void d_sql_prepare(MYSQL *a)
{
    app_run(a, "PREPARE kept_stmt FROM 'SELECT 7'");
}
static const char *c_sql_prepare(MYSQL *a)
{
    return app_expect(a, "EXECUTE kept_stmt", "7");
}
static void d_open_txn(MYSQL *a)
{
    app_run(a, "BEGIN");
    app_run(a, "INSERT INTO items (v) VALUES ('reap-probe-txn')");
}
static const char *c_open_txn(MYSQL *a)
{
    const char *r = app_expect(a, "SELECT @@in_transaction", "1");
    app_run(a, "ROLLBACK");
    return r;
}
static void d_lock_tables(MYSQL *a)
{
    app_run(a, "CREATE TABLE IF NOT EXISTS probe_other (x INT)");
    app_run(a, "LOCK TABLES items READ");
}
static const char *c_lock_tables(MYSQL *a)
{
    bool locked = mysql_query(a, "SELECT COUNT(*) FROM probe_other") != 0; /* 1100 */
    if (!locked)
        mysql_free_result(mysql_store_result(a));
    app_run(a, "UNLOCK TABLES");
    return locked ? NULL : "LOCK TABLES was lost";
}
static void d_get_lock(MYSQL *a)
{
    app_run(a, "SELECT GET_LOCK('reap_probe', 0)");
}
static const char *c_get_lock(MYSQL *a)
{
    return app_expect(a, "SELECT IS_USED_LOCK('reap_probe') = CONNECTION_ID()", "1");
}
static void d_stmt_open(MYSQL *a)
{
    open_stmt = mysql_stmt_init(a);
    if (mysql_stmt_prepare(open_stmt, "SELECT 1", 8))
        app_die(mysql_stmt_errno(open_stmt), "%s", mysql_stmt_error(open_stmt));
}
static const char *c_stmt_open(MYSQL *a)
{
    (void)a;
    bool ok = mysql_stmt_execute(open_stmt) == 0 && mysql_stmt_store_result(open_stmt) == 0;
    mysql_stmt_close(open_stmt);
    return ok ? NULL : "the open prepared statement no longer works";
}
static void d_found_rows(MYSQL *a)
{
    MYSQL *c = open_handle();
    char *n = app_scalar(c, "SELECT COUNT(*) FROM items");
    expected_count = strtoull(n, NULL, 10);
    free(n);
    mysql_close(c);
    app_run(a, "SELECT SQL_CALC_FOUND_ROWS * FROM items LIMIT 1");
}
static const char *c_found_rows(MYSQL *a)
{
    char want[32];
    snprintf(want, sizeof want, "%llu", expected_count);
    return app_expect(a, "SELECT FOUND_ROWS()", want);
}
static void d_warnings(MYSQL *a)
{
    app_run(a, "SELECT CAST('abc' AS SIGNED)");
}
static const char *c_warnings(MYSQL *a)
{
    return app_expect(a, "SHOW COUNT(*) WARNINGS", "1");
}
static void d_autocommit(MYSQL *a)
{
    mysql_autocommit(a, 0);
}
static const char *c_autocommit(MYSQL *a)
{
    const char *r = app_expect(a, "SELECT @@autocommit", "0");
    if (!r && (a->server_status & SERVER_STATUS_AUTOCOMMIT))
        r = "client-side server_status says autocommit";
    return r;
}
static void d_use_db(MYSQL *a)
{
    app_run(a, "USE t2");
}
static void d_select_db(MYSQL *a)
{
    if (mysql_select_db(a, "t2"))
        app_die(mysql_errno(a), "select_db: %s", mysql_error(a));
}
static const char *c_db(MYSQL *a)
{
    return app_expect(a, "SELECT DATABASE()", "t2");
}
static void d_set_names(MYSQL *a)
{
    app_run(a, "SET NAMES latin1");
}
static const char *c_set_names(MYSQL *a)
{
    if (strcmp(mysql_character_set_name(a), "latin1"))
        return "client-side charset is not latin1";
    return app_expect(a, "SELECT @@character_set_client", "latin1");
}
static unsigned long long inserted;
static void d_last_insert_id(MYSQL *a)
{
    app_run(a, "INSERT INTO items (v) VALUES ('reap-probe')");
    inserted = mysql_insert_id(a);
}
static const char *c_last_insert_id(MYSQL *a)
{
    char want[32];
    snprintf(want, sizeof want, "%llu", inserted);
    return app_expect(a, "SELECT LAST_INSERT_ID()", want);
}
static void d_all_replayable(MYSQL *a)
{
    d_last_insert_id(a);
    d_autocommit(a);
    d_set_names(a);
    d_use_db(a);
}
static const char *c_all_replayable(MYSQL *a)
{
    const char *r = c_last_insert_id(a);
    r = r ? r : c_autocommit(a);
    r = r ? r : c_set_names(a);
    return r ? r : c_db(a);
}
static void d_nothing(MYSQL *a)
{
    app_run(a, "SELECT 1");
}
static const char *c_nothing(MYSQL *a)
{
    return app_expect(a, "SELECT DATABASE()", app_env("PSTEST_DB"));
}

typedef struct scenario {
    const char *name;
    void (*dirty)(MYSQL *a);
    const char *(*check)(MYSQL *a);
} scenario;

static const scenario scenarios[] = {
    {"user_var", d_user_var, c_user_var},
    {"temp_table", d_temp_table, c_temp_table},
    {"session_var", d_session_var, c_session_var},
    {"sql_prepare", d_sql_prepare, c_sql_prepare},
    {"open_txn", d_open_txn, c_open_txn},
    {"lock_tables", d_lock_tables, c_lock_tables},
    {"get_lock", d_get_lock, c_get_lock},
    {"stmt_open", d_stmt_open, c_stmt_open},
    {"found_rows", d_found_rows, c_found_rows},
    {"warnings", d_warnings, c_warnings},
    {"autocommit", d_autocommit, c_autocommit},
    {"use_db", d_use_db, c_db},
    {"select_db", d_select_db, c_db},
    {"set_names", d_set_names, c_set_names},
    {"last_insert_id", d_last_insert_id, c_last_insert_id},
    {"all_replayable", d_all_replayable, c_all_replayable},
    {"session_settings", d_settings, c_settings},
    {"nothing", d_nothing, c_nothing},
};

/* True when A works as a live handle: ping, a prepared statement, consistent fields. */
static bool works(MYSQL *a)
{
    if (mysql_ping(a))
        return false;
    MYSQL_STMT *s = mysql_stmt_init(a);
    bool ok = s && !mysql_stmt_prepare(s, "SELECT 41 + 1", 13) && !mysql_stmt_execute(s) &&
              !mysql_stmt_store_result(s) && mysql_stmt_num_rows(s) == 1;
    if (s)
        mysql_stmt_close(s);
    char *id = app_scalar(a, "SELECT CONNECTION_ID()");
    struct stat st;
    ok = ok && strtoul(id, NULL, 10) == mysql_thread_id(a) && fstat(a->net.fd, &st) == 0 &&
         mysql_get_server_info(a) != NULL;
    free(id);
    return ok;
}

int main(int argc, char **argv)
{
    const scenario *sc = NULL;
    long idle_ms = 700;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            use_tcp = true;
        else if (!strcmp(argv[i], "--reconnect"))
            reconnect = true;
        else if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc)
            idle_ms = app_long_arg("--idle-ms", argv[++i]);
        for (size_t j = 0; j < sizeof scenarios / sizeof *scenarios; j++)
            if (!strcmp(argv[i], scenarios[j].name))
                sc = &scenarios[j];
    }
    if (!sc)
        app_die(0, "usage: reap_probe SCENARIO [--tcp] [--reconnect] [--idle-ms N]");
    MYSQL *a = open_handle();
    sc->dirty(a);
    fprintf(stderr, "reap_probe: state of handle %p made\n", (void *)a);
    unsigned long long insert_id = mysql_insert_id(a), affected = mysql_affected_rows(a);
    unsigned err = mysql_errno(a), warnings = mysql_warning_count(a);
    usleep((useconds_t)idle_ms * 1000);
    MYSQL *b = open_handle(); /* the shim does its housekeeping on connect and close */
    mysql_close(b);
    bool husk_ok = mysql_insert_id(a) == insert_id && mysql_affected_rows(a) == affected &&
                   mysql_errno(a) == err && mysql_warning_count(a) == warnings &&
                   mysql_get_server_info(a) && mysql_character_set_name(a);
    const char *leak = sc->check(a);
    bool ok = works(a);
    printf("intact=%d\ndetail=%s\nhusk_ok=%d\nworks=%d\n", leak == NULL, leak ? leak : "as made",
           husk_ok, ok);
    mysql_close(a);
    return leak || !husk_ok || !ok ? 1 : 0;
}
