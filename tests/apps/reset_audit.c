/* reset_audit [ITEM...]
 *
 * The audit behind README "What the reset covers": for each kind of session state, what
 * COM_RESET_CONNECTION (mysql_reset_connection) and COM_CHANGE_USER (mysql_change_user, as
 * itself) leave of it on the server this runs against. Never run under the shim: it measures
 * the server. For each item:
 *   fresh  = the probe on a brand-new connection (what a new connect sees);
 *   dirty  = the probe right after the item's statement(s) on another connection;
 *   reset  = the probe after the statement(s) again and mysql_reset_connection;
 *   change = the probe on a third connection after the statement(s) and mysql_change_user.
 * Prints one markdown table row per item: | item | dirty | after reset | after change_user |,
 * where "restored" means equal to fresh and "KEPT: x" means it kept the dirty value x.
 * Needs the PSTEST_* environment and the admin user (sets up roles, users, a sequence, a
 * latin1 database and a procedure once; sets GLOBAL interactive_timeout on its server). */
#include "app_common.h"

#include <unistd.h>

typedef struct who {
    const char *user, *password, *db, *charset;
    unsigned long flags;
} who;

typedef struct item {
    const char *name;
    who as;                     /* NULL user: the app user */
    const char *dirty_sql;      /* ';'-free statements separated by '\n' */
    void (*dirty_fn)(MYSQL *m); /* instead of (or after) dirty_sql */
    const char *probe_sql;      /* a one-value query */
    const char *(*probe_fn)(MYSQL *m);
} item;

/* Server-wide settings an item needs: run as admin before it ('\n'-separated), undone after. */
static const struct {
    const char *item, *global_sql, *undo_sql;
} globals[] = {
    {"server init_connect (no statement)", "SET GLOBAL init_connect = 'SET @audit_ic = 42'",
     "SET GLOBAL init_connect = ''"},
};

static char probe_buf[64][512];
static int probe_slot;

/* A static copy of V (the last 64 are kept: every probe of an item stays valid). */
static const char *keep(const char *v)
{
    char *b = probe_buf[probe_slot++ % 64];
    snprintf(b, sizeof probe_buf[0], "%s", v);
    return b;
}

/* Opens a connection AS (defaults: the app user over the socket, database t). */
static MYSQL *open_as(const who *as)
{
    MYSQL *m = mysql_init(NULL);
    if (as->charset)
        mysql_options(m, MYSQL_SET_CHARSET_NAME, as->charset);
    const char *user = as->user ? as->user : app_env("PSTEST_USER");
    const char *pw = as->user ? as->password : app_env("PSTEST_PASSWORD");
    const char *db = as->db ? as->db : "t";
    if (!mysql_real_connect(m, "localhost", user, pw, db, 0, app_env("PSTEST_SOCKET"), as->flags))
        app_die(mysql_errno(m), "connect as %s: %s", user, mysql_error(m));
    return m;
}

static who admin_who(void)
{
    return (who){app_env("PSTEST_ADMIN_USER"), app_env("PSTEST_ADMIN_PASSWORD"), "t", NULL, 0};
}

/* Runs SQL; "ok" or "err <errno>" (results discarded, all of a multi-statement read). */
static const char *try_sql(MYSQL *m, const char *sql)
{
    static char r[64];
    if (mysql_query(m, sql)) {
        snprintf(r, sizeof r, "err %u", mysql_errno(m));
        return r;
    }
    int more;
    do {
        MYSQL_RES *res = mysql_store_result(m);
        mysql_free_result(res);
        more = mysql_next_result(m);
    } while (more == 0);
    if (more > 0) {
        snprintf(r, sizeof r, "err %u", mysql_errno(m));
        return r;
    }
    return "ok";
}

/* Runs each '\n'-separated statement of SQL; dies on the first failure. */
static void run_lines(MYSQL *m, const char *sql)
{
    char *copy = strdup(sql), *save = NULL;
    for (char *s = strtok_r(copy, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
        const char *r = try_sql(m, s);
        if (strcmp(r, "ok"))
            app_die(mysql_errno(m), "%s: %s", s, mysql_error(m));
    }
    free(copy);
}

/* The first value of SQL, or "err N". */
static const char *value(MYSQL *m, const char *sql)
{
    static char r[64];
    if (mysql_query(m, sql)) {
        snprintf(r, sizeof r, "err %u", mysql_errno(m));
        return r;
    }
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    const char *v = keep(row && row[0] ? row[0] : "NULL");
    mysql_free_result(res);
    return v;
}

/* ---- probes and dirtying steps that need more than one statement ----------------------- */

static const char *probe_multi(MYSQL *m)
{
    return keep(try_sql(m, "SELECT 1; SELECT 2"));
}

static void multi_on(MYSQL *m)
{
    if (mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_ON))
        app_die(mysql_errno(m), "set_server_option: %s", mysql_error(m));
}

static void multi_off(MYSQL *m)
{
    if (mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_OFF))
        app_die(mysql_errno(m), "set_server_option: %s", mysql_error(m));
}

static const char *probe_next_trx_isolation(MYSQL *m)
{
    run_lines(m, "BEGIN\nSELECT COUNT(*) FROM items");
    const char *v = value(m, "SELECT trx_isolation_level FROM information_schema.innodb_trx "
                             "WHERE trx_mysql_thread_id = CONNECTION_ID()");
    run_lines(m, "ROLLBACK");
    return v;
}

static const char *probe_next_trx_read_only(MYSQL *m)
{
    run_lines(m, "BEGIN");
    const char *v = keep(try_sql(m, "INSERT INTO items (v) VALUES ('audit-ro')"));
    run_lines(m, "ROLLBACK");
    return v;
}

static const char *probe_insert_id(MYSQL *m)
{
    run_lines(m, "BEGIN\nINSERT INTO items (v) VALUES ('audit-insert-id')");
    const char *v = value(m, "SELECT LAST_INSERT_ID() = 900000");
    run_lines(m, "ROLLBACK");
    return v;
}

static const char *probe_warnings(MYSQL *m)
{
    if (mysql_query(m, "SHOW WARNINGS"))
        return keep("err");
    MYSQL_RES *r = mysql_store_result(m);
    char n[32];
    snprintf(n, sizeof n, "%llu", r ? (unsigned long long)mysql_num_rows(r) : 0ULL);
    mysql_free_result(r);
    return keep(n);
}

static const char *probe_profiles(MYSQL *m)
{
    const char *on = value(m, "SELECT @@profiling");
    char both[128];
    snprintf(both, sizeof both, "%s/", on);
    if (mysql_query(m, "SHOW PROFILES"))
        return keep("err");
    MYSQL_RES *r = mysql_store_result(m);
    snprintf(both + strlen(both), sizeof both - strlen(both), "%llu",
             r ? (unsigned long long)mysql_num_rows(r) : 0ULL);
    mysql_free_result(r);
    return keep(both);
}

static const char *probe_select1(MYSQL *m)
{
    return keep(try_sql(m, "SELECT 1"));
}

/* KILL QUERY of M from the admin connection, while M is idle. */
static void kill_query(MYSQL *m)
{
    who a = admin_who();
    MYSQL *k = open_as(&a);
    char sql[64];
    snprintf(sql, sizeof sql, "KILL QUERY %lu", mysql_thread_id(m));
    run_lines(k, sql);
    mysql_close(k);
    usleep(50000);
}

/* 1 when RAND() continues the sequence SET rand_seed1 = 1, rand_seed2 = 2 starts. */
static const char *probe_rand(MYSQL *m)
{
    return value(m, "SELECT RAND() < 0.000001");
}

static const char *probe_found_rows_flag(MYSQL *m)
{
    run_lines(m, "BEGIN");
    char n[32] = "err";
    if (mysql_query(m, "UPDATE items SET v = v ORDER BY id LIMIT 1") == 0)
        snprintf(n, sizeof n, "%llu", (unsigned long long)mysql_affected_rows(m));
    run_lines(m, "ROLLBACK");
    return keep(n);
}

static const char *probe_ftwrl(MYSQL *m)
{
    return keep(try_sql(m, "INSERT INTO items (v) VALUES ('audit-ftwrl')"));
}

static const char *probe_backup(MYSQL *m)
{
    const char *r = keep(try_sql(m, "BACKUP STAGE START"));
    try_sql(m, "BACKUP STAGE END");
    return r;
}

static const char *probe_handler(MYSQL *m)
{
    return keep(try_sql(m, "HANDLER audit_h READ FIRST"));
}

static const char *probe_xa(MYSQL *m)
{
    const char *r = keep(try_sql(m, "XA START 'audit-probe'"));
    try_sql(m, "XA END 'audit-probe'");
    try_sql(m, "XA ROLLBACK 'audit-probe'");
    return r;
}

static const char *probe_lock_tables(MYSQL *m)
{
    return keep(try_sql(m, "SELECT COUNT(*) FROM audit_h"));
}

static const char *probe_temp(MYSQL *m)
{
    return keep(try_sql(m, "SELECT COUNT(*) FROM audit_tmp"));
}

static const char *probe_prepared(MYSQL *m)
{
    return keep(try_sql(m, "EXECUTE audit_s"));
}

/* ---- the items ----------------------------------------------------------------------- */

#define ADMIN                                                                                      \
    {                                                                                              \
        "@admin", NULL, NULL, NULL, 0                                                              \
    }

static const item items[] = {
    {"SET ROLE r", {0}, "SET ROLE audit_r1", NULL, "SELECT CURRENT_ROLE()", NULL},
    {"SET ROLE r (PREPARE/EXECUTE)",
     {0},
     "PREPARE audit_sr FROM 'SET ROLE audit_r1'\nEXECUTE audit_sr",
     NULL,
     "SELECT CURRENT_ROLE()",
     NULL},
    {"SET ROLE r (EXECUTE IMMEDIATE)",
     {0},
     "EXECUTE IMMEDIATE 'SET ROLE audit_r1'",
     NULL,
     "SELECT CURRENT_ROLE()",
     NULL},
    {"SET ROLE r (in a procedure)",
     {0},
     "CALL audit_setrole()",
     NULL,
     "SELECT CURRENT_ROLE()",
     NULL},
    {"SET ROLE NONE with a default role",
     {"audit_dr", "drpw", NULL, NULL, 0},
     "SET ROLE NONE",
     NULL,
     "SELECT CURRENT_ROLE()",
     NULL},
    {"SET ROLE DEFAULT (10.11 syntax?)",
     {"audit_dr", "drpw", NULL, NULL, 0},
     "SET ROLE NONE\nSET ROLE DEFAULT",
     NULL,
     "SELECT CURRENT_ROLE()",
     NULL},
    {"multi-statements ON (key without)", {0}, NULL, multi_on, NULL, probe_multi},
    {"multi-statements OFF (key with)",
     {NULL, NULL, NULL, NULL, CLIENT_MULTI_STATEMENTS},
     NULL,
     multi_off,
     NULL,
     probe_multi},
    {"sql_mode", {0}, "SET sql_mode = 'ANSI'", NULL, "SELECT @@sql_mode", NULL},
    {"time_zone", {0}, "SET time_zone = '+03:00'", NULL, "SELECT @@time_zone", NULL},
    {"SET NAMES latin1",
     {0},
     "SET NAMES latin1",
     NULL,
     "SELECT CONCAT_WS('/', @@character_set_client, @@character_set_results, "
     "@@collation_connection)",
     NULL},
    {"SET NAMES utf8mb4 COLLATE utf8mb4_bin",
     {0},
     "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
     NULL,
     "SELECT @@collation_connection",
     NULL},
    {"SET character_set_results = NULL",
     {0},
     "SET character_set_results = NULL",
     NULL,
     "SELECT IFNULL(@@character_set_results, 'NULL')",
     NULL},
    {"SET CHARACTER SET latin1",
     {0},
     "SET CHARACTER SET latin1",
     NULL,
     "SELECT CONCAT_WS('/', @@character_set_client, @@character_set_results, "
     "@@collation_connection)",
     NULL},
    {"handshake charset latin1 (no statement)",
     {NULL, NULL, NULL, "latin1", 0},
     "",
     NULL,
     "SELECT CONCAT_WS('/', @@character_set_client, @@character_set_results, "
     "@@collation_connection)",
     NULL},
    {"database charset (connect to a latin1 db)",
     {NULL, NULL, "audit_l1", NULL, 0},
     "",
     NULL,
     "SELECT CONCAT_WS('/', @@character_set_database, @@collation_database)",
     NULL},
    {"CLIENT_INTERACTIVE wait_timeout (no statement)",
     {NULL, NULL, NULL, NULL, CLIENT_INTERACTIVE},
     "",
     NULL,
     "SELECT @@wait_timeout",
     NULL},
    {"CLIENT_IGNORE_SPACE sql_mode (no statement)",
     {NULL, NULL, NULL, NULL, CLIENT_IGNORE_SPACE},
     "",
     NULL,
     "SELECT @@sql_mode",
     NULL},
    {"session isolation",
     {0},
     "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
     NULL,
     "SELECT @@tx_isolation",
     NULL},
    {"SET transaction_isolation",
     {0},
     "SET transaction_isolation = 'SERIALIZABLE'",
     NULL,
     "SELECT @@tx_isolation",
     NULL},
    {"next-transaction isolation", ADMIN, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", NULL,
     NULL, probe_next_trx_isolation},
    {"next-transaction READ ONLY",
     {0},
     "SET TRANSACTION READ ONLY",
     NULL,
     NULL,
     probe_next_trx_read_only},
    {"SET tx_read_only = 1", {0}, "SET tx_read_only = 1", NULL, "SELECT @@tx_read_only", NULL},
    {"autocommit = 0", {0}, "SET autocommit = 0", NULL, "SELECT @@autocommit", NULL},
    {"@@in_transaction (BEGIN)", {0}, "BEGIN", NULL, "SELECT @@in_transaction", NULL},
    {"max_statement_time",
     {0},
     "SET max_statement_time = 5",
     NULL,
     "SELECT @@max_statement_time",
     NULL},
    {"lc_time_names", {0}, "SET lc_time_names = 'de_DE'", NULL, "SELECT @@lc_time_names", NULL},
    {"SET STATEMENT ... FOR",
     {0},
     "SET STATEMENT sql_mode = 'ANSI' FOR SELECT 1",
     NULL,
     "SELECT @@sql_mode",
     NULL},
    {"SET timestamp",
     {0},
     "SET timestamp = 1000000000",
     NULL,
     "SELECT @@timestamp < 1500000000",
     NULL},
    {"SET rand_seed1/2", {0}, "SET rand_seed1 = 1, rand_seed2 = 2", NULL, NULL, probe_rand},
    {"SET insert_id", {0}, "SET insert_id = 900000", NULL, NULL, probe_insert_id},
    {"user variable", {0}, "SET @audit = 1", NULL, "SELECT @audit", NULL},
    {"temporary table", {0}, "CREATE TEMPORARY TABLE audit_tmp (x INT)", NULL, NULL, probe_temp},
    {"SQL PREPARE", {0}, "PREPARE audit_s FROM 'SELECT 1'", NULL, NULL, probe_prepared},
    {"GET_LOCK",
     {0},
     "SELECT GET_LOCK('audit_lock', 0)",
     NULL,
     "SELECT IS_USED_LOCK('audit_lock') = CONNECTION_ID()",
     NULL},
    {"LOCK TABLES", {0}, "LOCK TABLES items READ", NULL, NULL, probe_lock_tables},
    {"FLUSH TABLES WITH READ LOCK", ADMIN, "FLUSH TABLES WITH READ LOCK", NULL, NULL, probe_ftwrl},
    {"BACKUP STAGE START", ADMIN, "BACKUP STAGE START", NULL, NULL, probe_backup},
    {"HANDLER ... OPEN", {0}, "HANDLER audit_h OPEN", NULL, NULL, probe_handler},
    {"XA START (active)", {0}, "XA START 'audit-xa'", NULL, NULL, probe_xa},
    {"sequence LASTVAL", {0}, "SELECT NEXTVAL(audit_seq)", NULL, "SELECT LASTVAL(audit_seq)", NULL},
    {"LAST_INSERT_ID (insert)",
     {0},
     "INSERT INTO items (v) VALUES ('audit-lid')",
     NULL,
     "SELECT LAST_INSERT_ID()",
     NULL},
    {"LAST_INSERT_ID(expr)",
     {0},
     "SELECT LAST_INSERT_ID(77)",
     NULL,
     "SELECT LAST_INSERT_ID()",
     NULL},
    {"FOUND_ROWS",
     {0},
     "SELECT SQL_CALC_FOUND_ROWS * FROM items LIMIT 0",
     NULL,
     "SELECT FOUND_ROWS()",
     NULL},
    {"ROW_COUNT",
     {0},
     "UPDATE items SET v = v WHERE id < 0\nSELECT 1 FROM DUAL WHERE 0",
     NULL,
     "SELECT ROW_COUNT()",
     NULL},
    {"warnings (SHOW WARNINGS)", {0}, "SELECT CAST('x' AS INT)", NULL, NULL, probe_warnings},
    {"current database (USE)", {0}, "USE t2", NULL, "SELECT DATABASE()", NULL},
    {"profiling", {0}, "SET profiling = 1\nSELECT 1", NULL, NULL, probe_profiles},
    {"optimizer_trace",
     {0},
     "SET optimizer_trace = 'enabled=on'\nSELECT 1",
     NULL,
     "SELECT COUNT(*) FROM information_schema.optimizer_trace",
     NULL},
    {"session status counters",
     {0},
     "SELECT 1\nSELECT 1\nSELECT 1",
     NULL,
     "SELECT VARIABLE_VALUE FROM information_schema.session_status WHERE "
     "VARIABLE_NAME = 'COM_SELECT'",
     NULL},
    {"session_track_state_change",
     {0},
     "SET session_track_state_change = ON",
     NULL,
     "SELECT @@session_track_state_change",
     NULL},
    {"KILL QUERY pending (idle)", {0}, NULL, kill_query, NULL, probe_select1},
    {"SET pseudo_thread_id (admin)", ADMIN, "SET pseudo_thread_id = 12345", NULL,
     "SELECT @@pseudo_thread_id = 12345", NULL},
    {"sql_log_bin = 0 (admin)", ADMIN, "SET sql_log_bin = 0", NULL, "SELECT @@sql_log_bin", NULL},
    {"skip_replication (admin)", ADMIN, "SET skip_replication = 1", NULL,
     "SELECT @@skip_replication", NULL},
    {"gtid_domain_id (admin)", ADMIN, "SET gtid_domain_id = 7", NULL,
     "SELECT @@session.gtid_domain_id", NULL},
    {"server_id (admin)", ADMIN, "SET server_id = 77", NULL, "SELECT @@session.server_id", NULL},
    {"gtid_seq_no (admin)", ADMIN, "SET gtid_seq_no = 100", NULL, "SELECT @@session.gtid_seq_no",
     NULL},
    {"@@last_gtid",
     {0},
     "INSERT INTO items (v) VALUES ('audit-gtid')",
     NULL,
     "SELECT CONCAT('[', @@last_gtid, ']')",
     NULL},
    {"server init_connect (no statement)", {0}, "", NULL, "SELECT @audit_ic", NULL},
    {"CLIENT_FOUND_ROWS (no statement)",
     {NULL, NULL, NULL, NULL, CLIENT_FOUND_ROWS},
     "",
     NULL,
     NULL,
     probe_found_rows_flag},
    {"SET SESSION AUTHORIZATION", {0}, "SET SESSION AUTHORIZATION 'x'", NULL, "SELECT 1", NULL},
};

/* Runs IT's dirtying statements on M; "ok" or why not. */
static const char *dirty(const item *it, MYSQL *m)
{
    if (it->dirty_sql && *it->dirty_sql) {
        char *copy = strdup(it->dirty_sql), *save = NULL;
        for (char *s = strtok_r(copy, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
            const char *r = try_sql(m, s);
            if (strcmp(r, "ok")) {
                static char why[600];
                snprintf(why, sizeof why, "%s: %s", s, mysql_error(m));
                free(copy);
                return why;
            }
        }
        free(copy);
    }
    if (it->dirty_fn)
        it->dirty_fn(m);
    return "ok";
}

static const char *probe(const item *it, MYSQL *m)
{
    return it->probe_fn ? it->probe_fn(m) : value(m, it->probe_sql);
}

/* "restored" when AFTER equals FRESH, else "KEPT: AFTER" or "CHANGED: AFTER". */
static const char *verdict(const char *fresh, const char *dirty_v, const char *after)
{
    static char v[2][300];
    static int slot;
    char *b = v[slot++ % 2];
    if (!strcmp(after, fresh))
        snprintf(b, sizeof v[0], "restored");
    else if (!strcmp(after, dirty_v))
        snprintf(b, sizeof v[0], "**KEPT** `%s` (fresh `%s`)", after, fresh);
    else
        snprintf(b, sizeof v[0], "**CHANGED** to `%s` (fresh `%s`)", after, fresh);
    return b;
}

/* Measures IT: fresh, dirty, after a reset, after a change_user (see the top). */
static void audit_one(const item *it)
{
    who as = it->as;
    if (as.user && !strcmp(as.user, "@admin"))
        as = admin_who();
    MYSQL *m = open_as(&as);
    const char *ok = dirty(it, m);
    if (strcmp(ok, "ok")) {
        printf("| %s | not possible: %s | | |\n", it->name, ok);
        mysql_close(m);
        return;
    }
    const char *dirty_v = probe(it, m);
    mysql_close(m);
    MYSQL *f = open_as(&as);
    const char *fresh = probe(it, f);
    mysql_close(f);
    m = open_as(&as);
    dirty(it, m);
    if (mysql_reset_connection(m))
        app_die(mysql_errno(m), "reset: %s", mysql_error(m));
    const char *after_reset = probe(it, m);
    mysql_close(m);
    m = open_as(&as);
    dirty(it, m);
    const char *user = as.user ? as.user : app_env("PSTEST_USER");
    const char *pw = as.user ? as.password : app_env("PSTEST_PASSWORD");
    if (mysql_change_user(m, user, pw, as.db ? as.db : "t"))
        app_die(mysql_errno(m), "change_user: %s", mysql_error(m));
    const char *after_change = probe(it, m);
    mysql_close(m);
    printf("| %s | `%s` (fresh `%s`) | %s | %s |\n", it->name, dirty_v, fresh,
           verdict(fresh, dirty_v, after_reset), verdict(fresh, dirty_v, after_change));
}

/* Runs SQL ('\n'-separated) as the admin user. */
static void as_admin(const char *sql)
{
    who a = admin_who();
    MYSQL *m = open_as(&a);
    run_lines(m, sql);
    mysql_close(m);
}

static void audit(const item *it)
{
    size_t g = 0, n = sizeof globals / sizeof *globals;
    while (g < n && strcmp(globals[g].item, it->name))
        g++;
    if (g < n)
        as_admin(globals[g].global_sql);
    audit_one(it);
    if (g < n)
        as_admin(globals[g].undo_sql);
}

/* SET DEFAULT ROLE changes the account, not the session: what does a connection made before it
 * get from a reset, against a login made after it? */
static void audit_default_role(void)
{
    const char *none = "SET DEFAULT ROLE NONE FOR 'audit_nd'@'localhost'";
    who nd = {"audit_nd", "ndpw", NULL, NULL, 0};
    as_admin(none);
    MYSQL *m = open_as(&nd), *c = open_as(&nd);
    run_lines(m, "SET DEFAULT ROLE audit_r1");
    const char *dirty_v = value(m, "SELECT CURRENT_ROLE()");
    MYSQL *f = open_as(&nd);
    const char *fresh = value(f, "SELECT CURRENT_ROLE()");
    mysql_close(f);
    if (mysql_reset_connection(m) || mysql_change_user(c, "audit_nd", "ndpw", "t"))
        app_die(0, "reset/change_user failed");
    const char *after_reset = value(m, "SELECT CURRENT_ROLE()");
    const char *after_change = value(c, "SELECT CURRENT_ROLE()");
    printf("| SET DEFAULT ROLE (the account's; connection made before it) | `%s` (fresh `%s`) | %s "
           "| %s |\n",
           dirty_v, fresh, verdict(fresh, dirty_v, after_reset),
           verdict(fresh, dirty_v, after_change));
    mysql_close(m);
    mysql_close(c);
    as_admin(none);
}

static void setup(void)
{
    who a = admin_who();
    MYSQL *m = open_as(&a);
    const char *app = app_env("PSTEST_USER");
    char sql[4096];
    snprintf(
        sql, sizeof sql,
        "CREATE ROLE IF NOT EXISTS audit_r1\n"
        "GRANT SELECT ON mysql.user TO audit_r1\n"
        "GRANT audit_r1 TO '%s'@'localhost'\n"
        "CREATE USER IF NOT EXISTS 'audit_dr'@'localhost' IDENTIFIED BY 'drpw'\n"
        "GRANT ALL ON t.* TO 'audit_dr'@'localhost'\n"
        "GRANT audit_r1 TO 'audit_dr'@'localhost'\n"
        "SET DEFAULT ROLE audit_r1 FOR 'audit_dr'@'localhost'\n"
        "CREATE USER IF NOT EXISTS 'audit_nd'@'localhost' IDENTIFIED BY 'ndpw'\n"
        "GRANT ALL ON t.* TO 'audit_nd'@'localhost'\n"
        "GRANT audit_r1 TO 'audit_nd'@'localhost'\n"
        "SET DEFAULT ROLE NONE FOR 'audit_nd'@'localhost'\n"
        "CREATE SEQUENCE IF NOT EXISTS t.audit_seq\n"
        "CREATE DATABASE IF NOT EXISTS audit_l1 CHARACTER SET latin1\n"
        "GRANT ALL ON audit_l1.* TO '%s'@'localhost'\n"
        "CREATE TABLE IF NOT EXISTS t.audit_h (x INT)\n"
        "CREATE OR REPLACE PROCEDURE t.audit_setrole() SQL SECURITY INVOKER SET ROLE audit_r1\n"
        "GRANT EXECUTE ON PROCEDURE t.audit_setrole TO '%s'@'localhost'\n"
        "SET GLOBAL interactive_timeout = 1234",
        app, app, app);
    run_lines(m, sql);
    mysql_close(m);
}

int main(int argc, char **argv)
{
    setup();
    printf("| state | dirty value | after COM_RESET_CONNECTION | after COM_CHANGE_USER |\n");
    printf("|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
        bool want = argc < 2;
        for (int a = 1; a < argc; a++)
            want |= strstr(items[i].name, argv[a]) != NULL;
        if (want)
            audit(&items[i]);
        fflush(stdout);
    }
    if (argc < 2 || (argc == 2 && strstr("SET DEFAULT ROLE", argv[1])))
        audit_default_role();
    return 0;
}
