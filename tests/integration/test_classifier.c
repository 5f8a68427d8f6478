/* The statement classifier against the real server (issue 9 item 4).
 *  - bypass: each statement that used to slip past the classifier (tests/apps/classifier_probe.c)
 *    runs without and with the shim; the lock or value must survive under the shim exactly as
 *    without it, while a harmless statement in the same setting is reaped (so the idle period
 *    and the second handle do reap what is clean). POOLSHIM_MAX_PER_KEY=1: the second handle's
 *    connect reaps the first handle if it can.
 *  - names: every name the classifier takes for a builtin resolves to one on the server, never
 *    to a stored function.
 *  - differential: a corpus of statements runs on a session that tracks state changes, and the
 *    server's own view of what each left behind (performance_schema: user variables, metadata
 *    locks, prepared statements; the state-change flag; session variables; LAST_INSERT_ID,
 *    LASTVAL) is compared with the classifier's verdict: never "harmless" where the server says
 *    the session changed.
 *  - limits: what no verdict sees (a trigger's GET_LOCK, a sequence default's LASTVAL) is shown
 *    to exist, as the README's limits say. */
#include <criterion/criterion.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poolshim/sql_effects.h"
#include "poolshim/sql_names.h"
#include "pstest.h"

/* The objects the probe and the corpus use, made (again) in the server the test runs against. */
static const char *const fixtures[] = {
    "CREATE TABLE IF NOT EXISTS t.cls_export (x INT) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS t.cls_plain (id INT AUTO_INCREMENT PRIMARY KEY, x INT)",
    "CREATE TABLE IF NOT EXISTS t.cls_trig (x INT)",
    "CREATE TRIGGER IF NOT EXISTS t.cls_trig_ai AFTER INSERT ON t.cls_trig FOR EACH ROW "
    "SET @cls_tv = NEW.x",
    "CREATE TABLE IF NOT EXISTS t.cls_trig_lock (x INT)",
    "CREATE TRIGGER IF NOT EXISTS t.cls_trig_lock_ai AFTER INSERT ON t.cls_trig_lock "
    "FOR EACH ROW DO GET_LOCK('cls_trig', 0)",
    "CREATE OR REPLACE FUNCTION t.cls_lock_fn() RETURNS INT NO SQL RETURN GET_LOCK('cls_fn', 0)",
    "CREATE OR REPLACE FUNCTION t.cls_set_fn() RETURNS INT NO SQL BEGIN SET @cls_fv = 1; "
    "RETURN 1; END",
    "CREATE OR REPLACE VIEW t.cls_view AS SELECT t.cls_set_fn() AS v",
    "CREATE SEQUENCE IF NOT EXISTS t.cls_seq",
    "CREATE TABLE IF NOT EXISTS t.cls_seqt (id INT DEFAULT NEXT VALUE FOR t.cls_seq, v INT)",
};

static void make_fixtures(void)
{
    MYSQL *admin = pstest_admin();
    pstest_exec_all(admin, fixtures, sizeof fixtures / sizeof *fixtures);
    mysql_close(admin);
}

/* ---- bypasses, without and with the shim -------------------------------------------------- */

/* Runs classifier_probe SCENARIO without and with the shim: outsider= and value= must read the
 * same. PINNED: the shim must not have reaped (and the second handle found the cap held);
 * otherwise it must have reaped (the control). */
static void same_with_and_without(const char *scenario, bool pinned)
{
    const char *argv[] = {"classifier_probe", scenario, NULL};
    pstest_result without = pstest_run(argv, NULL, false);
    pstest_assert_ok(&without, scenario);
    pstest_result with = pstest_run(argv, pstest_reaping_env, true);
    pstest_assert_ok(&with, scenario);
    const char *keys[] = {"outsider", "value"};
    pstest_expect_same_values(&with, &without, keys, 2);
    long long reaped = pstest_summary_sum(with.err, "reaped");
    if (pinned) {
        cr_expect_eq(reaped, 0, "%s: reaped %lld times:\n%s", scenario, reaped, with.err);
        cr_expect_eq(pstest_value_ll(&with, "b_connect"), ER_CON_COUNT_ERROR, "%s:\n%s", scenario,
                     with.out);
    } else {
        cr_expect_geq(reaped, 1, "%s was not reaped:\n%s", scenario, with.err);
        cr_expect_eq(pstest_value_ll(&with, "b_connect"), 0, "%s:\n%s", scenario, with.out);
    }
    pstest_result_free(&with);
    pstest_result_free(&without);
}

TestSuite(bypass, .init = make_fixtures, .timeout = 120);

Test(bypass, backticked_get_lock_keeps_the_lock)
{
    same_with_and_without("backtick_get_lock", true);
}

Test(bypass, ansi_quoted_get_lock_keeps_the_lock)
{
    same_with_and_without("ansi_get_lock", true);
}

Test(bypass, a_variable_hidden_by_no_backslash_escapes_keeps_its_value)
{
    same_with_and_without("no_backslash_escapes", true);
}

Test(bypass, a_variable_hidden_by_ansi_quotes_keeps_its_value)
{
    same_with_and_without("ansi_quotes", true);
}

Test(bypass, backticked_last_insert_id_keeps_its_value)
{
    same_with_and_without("backtick_last_insert_id", true);
}

Test(bypass, get_lock_inside_set_autocommit_keeps_the_lock)
{
    same_with_and_without("set_autocommit_get_lock", true);
}

Test(bypass, a_stored_function_taking_get_lock_keeps_the_lock)
{
    same_with_and_without("stored_function_lock", true);
}

Test(bypass, flush_tables_for_export_keeps_blocking_writes)
{
    same_with_and_without("flush_for_export", true);
}

Test(bypass, flush_tables_with_read_lock_keeps_blocking_writes)
{
    same_with_and_without("flush_read_lock", true);
}

Test(bypass, clean_handles_are_still_reaped)
{
    same_with_and_without("clean_select", false);
    same_with_and_without("clean_insert", false);
}

/* A server that tracks session-state changes in every session (the DBA's setting). */
static void tracking_server(void)
{
    pstest_sandbox_start("--session-track-state-change=ON");
    make_fixtures();
}

Test(bypass, a_trigger_setting_a_variable_pins_when_the_server_tracks_state,
     .init = tracking_server, .fini = pstest_sandbox_stop)
{
    same_with_and_without("trigger_user_var", true);
}

/* ---- the names the classifier takes for builtins ------------------------------------------ */

/* The errno of SQL on C (0 on success; results discarded). */
static unsigned errno_of(MYSQL *c, const char *sql)
{
    if (mysql_query(c, sql))
        return mysql_errno(c);
    do
        mysql_free_result(mysql_store_result(c));
    while (mysql_next_result(c) == 0);
    return 0;
}

/* True when ERR says SQL called a stored function (that does not exist here). */
static bool stored_call(unsigned err)
{
    return err == ER_SP_DOES_NOT_EXIST || err == 1630; /* ER_FUNC_INEXISTENT_NAME_COLLISION */
}

Test(names, every_builtin_name_resolves_to_a_builtin_on_the_server, .init = make_fixtures)
{
    MYSQL *c = pstest_admin();
    pstest_exec(c, "USE t");
    enum ps_sql_call kind;
    bool glued_only;
    const char *name;
    size_t i = 0;
    for (; (name = ps_sql_known_name(i, &kind, &glued_only)); i++) {
        char sql[128];
        const char *forms[] = {"SELECT %s(NULL)", "SELECT %s()", "SELECT %s (NULL)"};
        for (size_t f = 0; f < (glued_only ? 2u : 3u); f++) {
            snprintf(sql, sizeof sql, forms[f], name);
            unsigned err = errno_of(c, sql);
            cr_expect_not(stored_call(err), "%s: the server looked for a stored function", sql);
        }
    }
    cr_log_info("%zu names checked", i);
    pstest_exec(c, "DO RELEASE_ALL_LOCKS()");
    mysql_close(c);
}

/* ---- differential: the classifier against the server's view ------------------------------- */

/* What the server shows a statement left in its session. */
typedef struct view {
    bool failed;         /* the statement failed (the corpus must not hold such) */
    bool flag;           /* SERVER_SESSION_STATE_CHANGED on one of its responses */
    bool in_trans;       /* a transaction is open (pinned by server_status, not the text) */
    long long user_vars; /* performance_schema.user_variables_by_thread rows */
    long long locks;     /* performance_schema.metadata_locks rows (GET_LOCK, LOCK TABLES...) */
    long long prepared;  /* performance_schema.prepared_statements_instances rows */
    int vars;            /* session variables changed: 0 none, 1 replayable ones only, 2 other */
    bool schema;         /* the current database changed */
    bool insert_id;      /* LAST_INSERT_ID() is not what the OK packets reported */
    bool lastval;        /* LASTVAL(t.cls_seq) is set */
    unsigned long long reported; /* the insert id the OK packets reported (what the shim replays) */
} view;

/* The session variables a reaped handle gets back from its client-side state (the reap reads
 * back ps_sql_replayed_variables too; the rest, once changed, must pin). */
static const char *const replayable_vars[] = {"AUTOCOMMIT",
                                              "CHARACTER_SET_CLIENT",
                                              "CHARACTER_SET_CONNECTION",
                                              "CHARACTER_SET_RESULTS",
                                              "COLLATION_CONNECTION",
                                              NULL};

/* Variables that change by themselves or are compared another way. */
static const char *const volatile_vars[] = {
    "TIMESTAMP", "RAND_SEED1", "RAND_SEED2",     "WARNING_COUNT", "ERROR_COUNT", "LAST_INSERT_ID",
    "IDENTITY",  "INSERT_ID",  "IN_TRANSACTION", "LAST_GTID",     "GTID_SEQ_NO", NULL};

static bool listed(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcasecmp(name, *list))
            return true;
    return false;
}

/* The session's variables as one "NAME=value\n" text sorted by name (NULL when unreadable). */
static char *session_vars(MYSQL *s)
{
    if (mysql_query(s, "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM "
                       "information_schema.SESSION_VARIABLES ORDER BY VARIABLE_NAME"))
        return NULL;
    MYSQL_RES *r = mysql_store_result(s);
    if (!r)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (MYSQL_ROW row; (row = mysql_fetch_row(r));)
        if (!listed(row[0], volatile_vars))
            fprintf(f, "%s=%s\n", row[0], row[1] ? row[1] : "NULL");
    fclose(f);
    mysql_free_result(r);
    return text;
}

/* 0 when BEFORE and AFTER (session_vars texts) are equal, 1 when only replayable variables
 * differ, 2 otherwise (also when either is missing). */
static int vars_changed(const char *before, const char *after)
{
    if (!before || !after)
        return 2;
    int changed = 0;
    for (const char *a = before, *b = after; *a || *b;) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la)) {
            char name[80];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(a, "="), a);
            bool replayed =
                listed(name, replayable_vars) || listed(name, ps_sql_replayed_variables);
            changed = replayed && changed < 2 ? 1 : 2;
        }
        a += la + (a[la] != 0);
        b += lb + (b[lb] != 0);
    }
    return changed;
}

/* Runs SQL on S, reading every result: fills V's flag, failure and reported insert id. */
static void run_watching(MYSQL *s, const char *sql, view *v)
{
    int rc = mysql_real_query(s, sql, strlen(sql));
    while (rc == 0) {
        v->flag |= (s->server_status & SERVER_SESSION_STATE_CHANGED) != 0;
        MYSQL_RES *r = mysql_store_result(s);
        v->flag |= (s->server_status & SERVER_SESSION_STATE_CHANGED) != 0;
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(s) == 0 && mysql_insert_id(s))
            v->reported = mysql_insert_id(s);
        rc = mysql_more_results(s) ? mysql_next_result(s) : -1;
    }
    v->failed = rc > 0;
    v->in_trans = (s->server_status & SERVER_STATUS_IN_TRANS) != 0;
}

/* Counts the performance_schema rows of TABLE owned by P_S thread TID (column COL). */
static long long ps_rows(MYSQL *o, const char *table, const char *col, long long tid)
{
    return pstest_query_ll(o, "SELECT COUNT(*) FROM performance_schema.%s WHERE %s = %lld", table,
                           col, tid);
}

/* A string value of SQL on S, or NULL (SQL NULL or an error: e.g. under LOCK TABLES). */
static char *value_or_null(MYSQL *s, const char *sql)
{
    if (mysql_query(s, sql))
        return NULL;
    MYSQL_RES *r = mysql_store_result(s);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    char *v = row && row[0] ? strdup(row[0]) : NULL;
    mysql_free_result(r);
    return v;
}

/* What the server shows after V's statement ran on S (P_S thread TID), seen from observer O and
 * from S itself; BEFORE_VARS and BEFORE_DB are S's snapshot from before the statement. */
static void observe(MYSQL *o, MYSQL *s, long long tid, const char *before_vars,
                    const char *before_db, view *v)
{
    v->user_vars = ps_rows(o, "user_variables_by_thread", "THREAD_ID", tid);
    v->locks = ps_rows(o, "metadata_locks", "OWNER_THREAD_ID", tid);
    v->prepared = ps_rows(o, "prepared_statements_instances", "OWNER_THREAD_ID", tid);
    char *lid = value_or_null(s, "SELECT LAST_INSERT_ID()");
    v->insert_id = lid && strtoull(lid, NULL, 10) != v->reported;
    char *lastval = value_or_null(s, "SELECT LASTVAL(t.cls_seq)");
    v->lastval = lastval != NULL;
    char *db = value_or_null(s, "SELECT DATABASE()");
    v->schema = !db || strcmp(db, before_db);
    char *after_vars = session_vars(s);
    v->vars = vars_changed(before_vars, after_vars);
    free(lid), free(lastval), free(db), free(after_vars);
}

/* True when V shows state the shim could not give back on a new connection. */
static bool unreplayable(const view *v)
{
    return v->user_vars || v->locks || v->prepared || v->insert_id || v->lastval || v->vars == 2 ||
           (v->flag && v->vars == 0 && !v->schema); /* temp table, PREPARE */
}

/* Runs SETUP (may be NULL; not judged) then SQL on a fresh session of the admin (FLUSH and
 * BACKUP need RELOAD; multi-statements on), TRACKING or not its state changes, and returns what
 * the server shows. */
static view server_view(const char *setup, const char *sql, bool tracking)
{
    MYSQL *o = pstest_admin(), *s = mysql_init(NULL);
    cr_assert(mysql_real_connect(s, "localhost", pstest_env("PSTEST_ADMIN_USER"),
                                 pstest_env("PSTEST_ADMIN_PASSWORD"), "t", 0,
                                 pstest_env("PSTEST_SOCKET"), CLIENT_MULTI_STATEMENTS),
              "subject connect: %s", mysql_error(s));
    if (tracking)
        pstest_exec(s, "SET SESSION session_track_state_change = ON, "
                       "session_track_system_variables = '*'");
    if (setup)
        pstest_exec(s, "%s", setup);
    long long tid = pstest_query_ll(o,
                                    "SELECT THREAD_ID FROM performance_schema.threads "
                                    "WHERE PROCESSLIST_ID = %lu",
                                    mysql_thread_id(s));
    char *before_vars = session_vars(s), *before_db = value_or_null(s, "SELECT DATABASE()");
    view v = {0};
    run_watching(s, sql, &v);
    observe(o, s, tid, before_vars, before_db, &v);
    free(before_vars), free(before_db);
    unsigned long id = mysql_thread_id(s);
    mysql_close(s);
    /* The server ends a session after its client left, asynchronously: wait (at most 60 s) until
     * this one is gone, or the next statement's GET_LOCK(..., 0) could find its lock still
     * held, get 0 and leave nothing (a slow run under valgrind did). */
    for (int i = 0;
         i < 3000 && pstest_query_ll(o,
                                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                     "WHERE ID = %lu",
                                     id) > 0;
         i++)
        usleep(20000);
    mysql_close(o);
    return v;
}

/* A statement of the corpus and what its session runs first (NULL: nothing; not judged). */
typedef struct entry {
    const char *setup, *sql;
} entry;

/* Statements whose text shows what they leave: the server must see it, the classifier pin. */
static const entry changes[] = {
    {NULL, "SET @cls_a = @cls_a + 1"},
    {NULL, "SET autocommit = 0, @cls_a = NOW()"},
    {NULL, "SELECT 1; SET @cls_a = 2 + 0"},
    {NULL, "USE t2; SET @cls_a = 1 /* c */"},
    {NULL, "SELECT @cls_a := 5"},
    {NULL, "SELECT 1 INTO @cls_a"},
    {NULL, "DO @cls_a := 1"},
    {NULL, "SET max_join_size = 1000"},
    {NULL, "SET SESSION optimizer_search_depth = 3"},
    {NULL, "CREATE TEMPORARY TABLE t.cls_tmp (x INT)"},
    {NULL, "PREPARE cls_p FROM 'SELECT 1'"},
    {NULL, "EXECUTE IMMEDIATE 'SET @cls_e = 1'"},
    {NULL, "SELECT LAST_INSERT_ID(42)"},
    {NULL, "SELECT `LAST_INSERT_ID`(99)"},
    {NULL, "SELECT NEXTVAL(t.cls_seq)"},
    {NULL, "SELECT NEXT VALUE FOR t.cls_seq"},
    {NULL, "SELECT GET_LOCK('cls_d', 0)"},
    {NULL, "SELECT `GET_LOCK`('cls_d', 0)"},
    {NULL, "select `get_lock` ( 'cls_d' , 0 )"},
    {NULL, "SELECT GET_LOCK /* c */ ('cls_d', 0)"},
    {"SET SESSION sql_mode = 'ANSI_QUOTES'", "SELECT \"GET_LOCK\"('cls_d', 0)"},
    {"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", "SELECT 'a\\', @cls_v := 5, 'b'"},
    {"SET SESSION sql_mode = 'ANSI_QUOTES'", "SELECT 1 AS \"a\\\", @cls_v := 5, 2 AS \"b\""},
    {"SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", "SELECT 'a\\', GET_LOCK('cls_d', 0), 'b'"},
    {NULL, "SET autocommit = 1 * GET_LOCK('cls_d', 0)"},
    {NULL, "SET STATEMENT max_statement_time = 10 FOR SELECT GET_LOCK('cls_d', 0)"},
    {NULL, "SELECT cls_lock_fn()"},
    {NULL, "SELECT t.cls_set_fn()"},
    {NULL, "SELECT 1 /*!50000 , @cls_a := 1 */"},
    {NULL, "SELECT 1 /*M!100000 , GET_LOCK('cls_d', 0) */"},
    {NULL, "SELECT 1; SELECT `GET_LOCK`('cls_d', 0)"},
    {NULL, "LOCK TABLES t.cls_export READ"},
    {NULL, "FLUSH TABLES t.cls_export FOR EXPORT"},
    {NULL, "FLUSH TABLES WITH READ LOCK"},
    {NULL, "BACKUP STAGE START"},
    {NULL, "BACKUP LOCK t.cls_export"},
    {NULL, "HANDLER t.cls_export OPEN"},
    {NULL, "BEGIN NOT ATOMIC SET @cls_a = 1; END"},
};

/* Statements that set user variables to literals only: the shim keeps them as written and
 * replays them (the server must show exactly as many variables as the classifier reports). */
static const entry user_literals[] = {
    {NULL, "SET @cls_a = 1"},
    {NULL, "SET autocommit = 0, @cls_a = 1, @cls_b = _latin1 'x' COLLATE latin1_bin"},
    {NULL, "SELECT 1; SET @cls_a = 2"},
    {NULL, "USE t2; SET @cls_a = X'41', @CLS_A = 'B', @cls_c := -1.5e3"},
};

/* Statements that leave nothing the shim cannot give back, or whose verdict is free (the
 * classifier may pin them): only "harmless where the server saw a change" is an error. */
static const entry others[] = {
    {NULL, "SELECT 1"},
    {NULL, "SELECT @cls_a, @cls_b + 1 FROM t.cls_plain WHERE id = @cls_c"},
    {NULL, "SELECT COUNT(*), NOW(), IFNULL(NULL, 1), CONCAT('a', 'b') FROM t.cls_export"},
    {NULL, "INSERT INTO t.cls_plain (x) VALUES (1)"},
    {NULL, "INSERT INTO `t`.`cls_plain`(`x`) VALUES(2) ON DUPLICATE KEY UPDATE x = VALUES(x)"},
    {NULL, "UPDATE t.cls_plain SET x = x + 1 WHERE id > 0"},
    {NULL, "DELETE FROM t.cls_plain WHERE id < 0"},
    {NULL, "SELECT * FROM t.cls_plain FOR UPDATE"},
    {NULL, "SELECT * FROM t.cls_plain LOCK IN SHARE MODE"},
    {NULL, "SELECT IS_USED_LOCK('x'), IS_FREE_LOCK('x'), RELEASE_LOCK('x')"},
    {NULL, "SELECT LASTVAL(t.cls_seq), LAST_INSERT_ID(), FOUND_ROWS()"},
    {NULL, "SAVEPOINT a"},
    {NULL, "SHOW WARNINGS"},
    {NULL, "SET NAMES latin1"},
    {NULL, "SET autocommit = 0"},
    {NULL, "SET CHARACTER SET utf8mb4"},
    {NULL, "USE t2"},
    {NULL, "SET NAMES latin1; USE t2"},
    {NULL, "SET sql_mode = 'ANSI'"},
    {NULL, "SET time_zone = '+01:00'"},
    {NULL, "SET character_set_server = 'latin1', collation_connection = 'utf8mb4_bin'"},
    {NULL, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI')"},
    {NULL, "GRANT SELECT ON t.cls_plain TO 'other'@'%'"},
    {NULL, "SELECT 'a\\'b', \"c\\\"d\""},
    {NULL, "SELECT `x` FROM (SELECT 1 AS `x`) AS d"},
};

/* Runs E on a session that tracks state changes and asserts the classifier never calls it
 * harmless where the server saw the session change. True when the server saw state the shim
 * cannot replay; *RAN: E succeeded. */
static bool judge(const entry *e, bool *ran)
{
    view v = server_view(e->setup, e->sql, true);
    *ran = !v.failed;
    unsigned fx = ps_sql_effects(e->sql, strlen(e->sql));
    bool lost = !v.in_trans && unreplayable(&v);
    bool changed = lost || v.vars == 1 || v.schema;
    cr_expect(!lost || (fx & (PS_SQL_SESSION | PS_SQL_LOCK)),
              "'%s' -> %#x, but the server kept state: user_vars=%lld locks=%lld prepared=%lld "
              "vars=%d flag=%d insert_id=%d lastval=%d",
              e->sql, fx, v.user_vars, v.locks, v.prepared, v.vars, v.flag, v.insert_id, v.lastval);
    cr_expect(!changed || fx, "'%s' -> 0, but the server's session changed", e->sql);
    return lost;
}

/* A server whose performance_schema shows user variables, metadata locks and prepared
 * statements per thread. */
static void observed_server(void)
{
    pstest_sandbox_start("--performance-schema=ON "
                         "--performance-schema-instrument=wait/lock/metadata/sql/mdl=ON");
    make_fixtures();
    MYSQL *admin = pstest_admin();
    pstest_exec(admin, "CREATE DATABASE IF NOT EXISTS t2");
    mysql_close(admin);
}

TestSuite(differential, .init = observed_server, .fini = pstest_sandbox_stop, .timeout = 300);

/* Counts the assignments ps_sql_user_literals reports (CTX: a size_t), names once each (the
 * server's are case-insensitive; these differ in more than case or are the same name). */
static void count_literal(void *ctx, const ps_sql_literal *a)
{
    static char seen[8][16];
    size_t *n = ctx;
    if (*n == 0)
        memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < 8 && seen[i][0]; i++)
        if (strlen(seen[i]) == a->name_len && !strncasecmp(seen[i], a->name, a->name_len))
            return;
    if (*n < 8)
        snprintf(seen[*n], sizeof seen[*n], "%.*s", (int)a->name_len, a->name);
    ++*n;
}

Test(differential, user_variables_set_to_literals_are_the_ones_the_server_shows)
{
    for (size_t i = 0; i < sizeof user_literals / sizeof *user_literals; i++) {
        const char *sql = user_literals[i].sql;
        view v = server_view(NULL, sql, true);
        size_t names = 0;
        bool kept = ps_sql_user_literals(sql, strlen(sql), count_literal, &names);
        unsigned fx = ps_sql_effects(sql, strlen(sql));
        cr_expect(!v.failed, "'%s' failed on the server", sql);
        cr_expect(kept && (fx & PS_SQL_USER_VARIABLES) && !(fx & ~PS_SQL_REPLAYED),
                  "'%s' -> %#x, not kept", sql, fx);
        cr_expect_eq(v.user_vars, (long long)names,
                     "'%s': the server shows %lld, the shim keeps %zu", sql, v.user_vars, names);
    }
}

Test(differential, the_classifier_never_calls_harmless_what_the_server_says_changed)
{
    bool ran;
    for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
        bool lost = judge(&changes[i], &ran);
        cr_expect(ran, "'%s' failed on the server", changes[i].sql);
        cr_expect(lost, "'%s': the server shows nothing (is the corpus stale?)", changes[i].sql);
    }
    size_t pinned_anyway = 0;
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        bool lost = judge(&others[i], &ran);
        cr_expect(ran, "'%s' failed on the server", others[i].sql);
        if (!lost && (ps_sql_effects(others[i].sql, strlen(others[i].sql)) & ~PS_SQL_REPLAYED))
            pinned_anyway++;
    }
    cr_log_info("%zu statements that left nothing were pinned anyway", pinned_anyway);
}

/* A call that leaves state, split so its function name can be quoted, spaced and commented. */
typedef struct seed {
    const char *before, *name, *after;
} seed;

static const seed seeds[] = {
    {"SELECT ", "GET_LOCK", "('cls_d', 0)"},
    {"SELECT ", "LAST_INSERT_ID", "(42)"},
    {"SELECT ", "NEXTVAL", "(t.cls_seq)"},
    {"SELECT ", "cls_lock_fn", "()"},
    {"SELECT 1 FROM DUAL WHERE ", "cls_set_fn", "()"},
    {"DO ", "GET_LOCK", "('cls_d', 0)"},
};

/* printf formats for SEED's three parts: the variations of spelling a call. */
static const char *const spellings[] = {
    "%s%s%s",        "%s`%s`%s",         "%s%s /* c */ %s",    "%s%s\n\t%s",
    "%s %s %s",      "SELECT 1; %s%s%s", "/*!50000 %s%s%s */", "/*M!100000 %s%s%s */",
    "%s%s%s -- x\n", "# x\n%s%s%s",
};

Test(differential, every_spelling_of_a_call_that_leaves_state_pins)
{
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        for (size_t f = 0; f < sizeof spellings / sizeof *spellings; f++) {
            char sql[256];
            snprintf(sql, sizeof sql, spellings[f], seeds[i].before, seeds[i].name, seeds[i].after);
            entry e = {NULL, sql};
            bool ran;
            bool lost = judge(&e, &ran);
            if (ran) /* some spellings are stored calls (`NEXTVAL`(s)): no such function */
                cr_expect(lost, "'%s': the server shows nothing", sql);
        }
}

/* What triggers and views hide from the text, with the state-change flag: the shim's verdict is
 * the text's plus PS_SQL_SESSION for a flag the text does not explain (tracking.c). */
static const entry hidden[] = {
    {NULL, "INSERT INTO t.cls_trig (x) VALUES (1)"},
    {NULL, "SELECT * FROM t.cls_view"},
    {NULL, "INSERT INTO t.cls_trig (x) VALUES (2); SELECT 1"},
    {NULL, "UPDATE t.cls_plain SET x = t.cls_set_fn() WHERE id < 0; INSERT INTO t.cls_trig "
           "VALUES (3)"},
};

Test(differential, the_state_change_flag_catches_what_triggers_and_views_hide)
{
    for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++) {
        const char *sql = hidden[i].sql;
        view v = server_view(NULL, sql, true);
        cr_expect_not(v.failed, "'%s' failed", sql);
        cr_expect(unreplayable(&v) && v.user_vars > 0, "'%s': no user variable set", sql);
        bool only;
        unsigned fx = ps_sql_effects_ex(sql, strlen(sql), &only);
        unsigned flagged = v.flag && !only ? PS_SQL_SESSION : 0;
        cr_expect((fx | flagged) & PS_SQL_SESSION, "'%s': neither the text (%#x) nor the flag (%d)",
                  sql, fx, v.flag);
    }
}

Test(differential, limits_documented_in_the_readme_are_real)
{
    /* Neither the text nor any protocol signal shows these (README, "Reaping limits"). */
    const struct {
        const char *sql;
        bool tracking;
    } limits[] = {
        {"INSERT INTO t.cls_trig_lock (x) VALUES (1)", true}, /* a trigger's GET_LOCK */
        {"INSERT INTO t.cls_seqt (v) VALUES (1)", true},      /* DEFAULT NEXT VALUE FOR: LASTVAL */
        {"INSERT INTO t.cls_trig (x) VALUES (1)", false},     /* a trigger's @v, server default */
        {"SELECT * FROM t.cls_view", false},                  /* a view's function's @v */
    };
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        view v = server_view(NULL, limits[i].sql, limits[i].tracking);
        bool only;
        unsigned fx = ps_sql_effects_ex(limits[i].sql, strlen(limits[i].sql), &only);
        cr_expect(unreplayable(&v), "'%s': the server shows no state: update the README",
                  limits[i].sql);
        cr_expect(fx == 0 && !v.flag, "'%s' is seen now (text %#x, flag %d): update the README",
                  limits[i].sql, fx, v.flag);
    }
}
