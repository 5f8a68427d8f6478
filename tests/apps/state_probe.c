/* state_probe MODE SQL
 *
 * One row of the session-state table (test_session): handle A connects (socket, multi-statements
 * on), runs SQL (statements separated by ';' go out as one multi-statement query), and then,
 * per MODE:
 *   close    A closes; a new handle B connects and reads the probe: B must see what a fresh
 *            connection sees (with the shim, B gets A's connection: reset, or returned clean).
 *            A itself comes after a first handle that connected and closed, so that with the
 *            shim A's connect re-verifies the key (the first reuse of a real connect does) and
 *            B's, within POOLSHIM_REVERIFY_MS, does not: B sees the session A's close left;
 *   pressure A stays open; B connects (with POOLSHIM_MAX_PER_KEY=1 the shim must reap A to
 *            serve it: prints b_connected=1, else b_connected=0 and B's error), B reads the
 *            probe (prefixed b_) and closes; then A reads the probe: A must see what it would
 *            have seen had it kept its session;
 *   idle     A stays open and idle for 700 ms (STATE_PROBE_IDLE_MS), B connects and closes (the
 *            shim's housekeeping reaps A with POOLSHIM_REAP_IDLE_MS below that), then A reads
 *            the probe;
 *   fork     A stays open; a forked child reads the probe on A (prefixed c_): the child
 *            shares the parent's session without the shim; with it the child gets its own
 *            connection with the session replayed, or fails (2006) when it cannot be.
 *   autocommit  SQL is ignored: A calls mysql_autocommit with 1, 0, 0, 1 in turn (the shim
 *            answers those the session already has without a round trip), printing after
 *            each the return code, @@autocommit and @@in_transaction after a table read
 *            (ac1..ac4), then the probe.
 *   answers  SQL is ignored: A calls mysql_select_db and mysql_set_character_set with the
 *            session's own value, another one, one that fails, and its own again, printing
 *            after each what the program can read (answers1..answers8: return code, errno,
 *            sqlstate, message, affected rows, info, warning count, the handle's database and
 *            character set, then the session's DATABASE(), character sets and collation).
 *   autocommit-chain  SQL runs on A, which closes; then a chain of handles, one after the other,
 *            each changes autocommit or not, writes to t.ps_ids or not, and closes (with the shim
 *            under POOLSHIM_MAX_PER_KEY=1 all share one server connection, which keeps the mode
 *            a lease set without a round trip): prints what each saw (ch1..ch8) and the rows
 *            that were committed (rows). No probe.
 * The probe prints one key=value line per reading; a statement that fails prints E<errno>:
 *   first  ROW_COUNT(), @@warning_count, LAST_INSERT_ID() as the first statement (what the
 *          previous statement left; not FOUND_ROWS(): a fresh session's is not even stable
 *          from one connection to the next, 0, 1, sometimes more: test_reset and test_replay
 *          check it where it is defined);
 *   vars   user variables, sql_mode, time zone, isolation, read only, autocommit, database,
 *          character set and collation, timeouts, sql_auto_is_null, in_transaction;
 *   lock   IS_USED_LOCK('ps_state_lock') IS NOT NULL;
 *   temp   SELECT COUNT(*) FROM ps_tmp (a temporary table);
 *   prep   EXECUTE ps_s (SQL PREPARE);
 *   lastval LASTVAL(ps_seq);
 *   handler HANDLER items READ FIRST (an open HANDLER);
 *   uvar   @a, @b, @a + 0.5 as value:type:charsetnr:decimals of its result column, then the
 *          values of CHARSET(@a), COLLATION(@b) (user variables set to literals are replayed
 *          with their type; the metadata of the last two follows the results' character set).
 * The database needs t.items, the sequence t.ps_seq and the procedures t.ps_set_var (sets
 * @pv) and t.ps_make_temp (creates ps_tmp); test_session creates them. */
#include <sys/wait.h>
#include <unistd.h>

#include "app_common.h"

static const char *const probe_names[] = {"first", "vars",    "lock",   "temp",
                                          "prep",  "lastval", "handler"};
static const char *const probe_sql[] = {
    "SELECT CONCAT_WS('|', ROW_COUNT(), @@warning_count, LAST_INSERT_ID())",
    "SELECT CONCAT_WS('|', IFNULL(@a, '-'), IFNULL(@v, '-'), IFNULL(@pv, '-'), @@sql_mode, "
    "@@time_zone, @@tx_isolation, @@tx_read_only, @@autocommit, IFNULL(DATABASE(), '-'), "
    "@@character_set_client, @@collation_connection, @@wait_timeout, @@sql_auto_is_null, "
    "@@max_statement_time, @@in_transaction)",
    "SELECT IS_USED_LOCK('ps_state_lock') IS NOT NULL",
    "SELECT COUNT(*) FROM ps_tmp",
    "EXECUTE ps_s",
    "SELECT IFNULL(LASTVAL(ps_seq), '-')",
    "HANDLER items READ FIRST"};

/* Connects a new heap handle with multi-statements; NULL (M's error kept in *ERR) on failure. */
static MYSQL *open_handle(unsigned *err, char *msg, size_t n)
{
    MYSQL *m = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    if (mysql_real_connect(m, d.host, d.user, d.password, d.db, 0, d.socket,
                           CLIENT_MULTI_STATEMENTS))
        return m;
    *err = mysql_errno(m);
    snprintf(msg, n, "%s", app_error(m));
    mysql_close(m);
    return NULL;
}

/* Runs SQL on M, reading every result; the first row's first value of the first result set
 * into VAL (N bytes), or "ok"; false with E<errno> in VAL when a statement fails. */
static bool run(MYSQL *m, const char *sql, char *val, size_t n)
{
    snprintf(val, n, "ok");
    bool first = true;
    if (mysql_query(m, sql)) {
        snprintf(val, n, "E%u", mysql_errno(m));
        return false;
    }
    int more;
    do {
        MYSQL_RES *r = mysql_store_result(m);
        if (r) {
            MYSQL_ROW row = mysql_fetch_row(r);
            if (first && row)
                snprintf(val, n, "%s", row[0] ? row[0] : "NULL");
            first = false;
            mysql_free_result(r);
        } else if (mysql_field_count(m)) {
            snprintf(val, n, "E%u", mysql_errno(m));
            return false;
        }
        more = mysql_next_result(m);
    } while (more == 0);
    if (more > 0) {
        snprintf(val, n, "E%u", mysql_errno(m));
        return false;
    }
    return true;
}

/* Prints the uvar reading of M (see the header), its key prefixed with PREFIX. */
static void user_variables_probe(MYSQL *m, const char *prefix)
{
    char out[1024] = "";
    MYSQL_RES *r = NULL;
    if (mysql_query(m, "SELECT @a, @b, @a + 0.5, CHARSET(@a), COLLATION(@b)") ||
        !(r = mysql_store_result(m))) {
        printf("%suvar=E%u\n", prefix, mysql_errno(m));
        return;
    }
    MYSQL_ROW row = mysql_fetch_row(r);
    for (unsigned i = 0; row && i < mysql_num_fields(r); i++) {
        const MYSQL_FIELD *f = mysql_fetch_field_direct(r, i);
        size_t n = strlen(out);
        if (i < 3)
            snprintf(out + n, sizeof out - n, "%s:%d:%u:%u;", row[i] ? row[i] : "NULL",
                     (int)f->type, f->charsetnr, f->decimals);
        else
            snprintf(out + n, sizeof out - n, "%s;", row[i] ? row[i] : "NULL");
    }
    mysql_free_result(r);
    printf("%suvar=%s\n", prefix, out);
}

/* Prints M's probe, each key prefixed with PREFIX. */
static void probe(MYSQL *m, const char *prefix)
{
    char val[1024];
    for (size_t i = 0; i < sizeof probe_sql / sizeof *probe_sql; i++) {
        run(m, probe_sql[i], val, sizeof val);
        printf("%s%s=%s\n", prefix, probe_names[i], val);
    }
    user_variables_probe(m, prefix);
    fflush(stdout);
}

/* MODE pressure: B connects while A is kept, reads its probe and closes. */
static void second_handle(void)
{
    unsigned err = 0;
    char msg[512];
    MYSQL *b = open_handle(&err, msg, sizeof msg);
    printf("b_connected=%d\n", b != NULL);
    if (!b) {
        printf("b_error=%u\n", err);
        return;
    }
    probe(b, "b_");
    mysql_close(b);
}

/* MODE fork: a child reads the probe on A. */
static void child_probe(MYSQL *a)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        probe(a, "c_");
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        app_die(0, "fork child failed");
}

/* MODE autocommit: mysql_autocommit in turn with 1, 0, 0, 1 on A. */
static void autocommit_turns(MYSQL *a)
{
    static const my_bool modes[] = {1, 0, 0, 1};
    char val[1024];
    for (int i = 0; i < 4; i++) {
        my_bool rc = mysql_autocommit(a, modes[i]);
        run(a, "SELECT COUNT(*) FROM items", val, sizeof val);
        run(a, "SELECT CONCAT(@@autocommit, '|', @@in_transaction)", val, sizeof val);
        printf("ac%d=%d|%s|%d\n", i + 1, rc, val,
               (a->server_status & SERVER_STATUS_AUTOCOMMIT) != 0);
    }
}

/* Opens a handle (dies on failure). */
static MYSQL *must_open(void)
{
    unsigned err = 0;
    char msg[512];
    MYSQL *m = open_handle(&err, msg, sizeof msg);
    if (!m)
        app_die(err, "connect: %s", msg);
    return m;
}

/* Prints KEY=<mysql_autocommit's code>|<SQL's first value>|<the handle's autocommit flag>
 * after M's autocommit calls ("0", "1", "01": in turn; "" none) and M's SQL, then closes M. */
static void chain_step(const char *key, MYSQL *m, const char *calls, const char *sql)
{
    char val[1024];
    int rc = 0;
    for (const char *c = calls; *c; c++)
        rc |= mysql_autocommit(m, *c == '1');
    run(m, sql, val, sizeof val);
    printf("%s=%d|%s|%d\n", key, rc, val, (m->server_status & SERVER_STATUS_AUTOCOMMIT) != 0);
    mysql_close(m);
}

/* MODE autocommit-chain (see the top). */
static void autocommit_chain(void)
{
    static const char insert_read[] =
        "INSERT INTO ps_ids (v) VALUES (%d); SELECT CONCAT(@@autocommit, '|', @@in_transaction)";
    char sql[256], val[1024];
    chain_step("ch1", must_open(), "0", "SELECT @@autocommit");
    snprintf(sql, sizeof sql, insert_read, 2); /* no call: the connect's mode, committed */
    chain_step("ch2", must_open(), "", sql);
    snprintf(sql, sizeof sql, insert_read, 3); /* rolled back by the close */
    chain_step("ch3", must_open(), "0", sql);
    snprintf(sql, sizeof sql, insert_read, 4); /* Django: off, then on */
    chain_step("ch4", must_open(), "01", sql);
    chain_step("ch5", must_open(), "0", "DO 0");
    snprintf(sql, sizeof sql, insert_read, 5);
    MYSQL *a = must_open();
    mysql_autocommit(a, 0); /* nothing sent yet: B's connect may take the connection */
    chain_step("ch6b", must_open(), "", sql);
    snprintf(sql, sizeof sql, insert_read, 6); /* A's own transaction: rolled back */
    run(a, sql, val, sizeof val);
    printf("ch6a_insert=%s\n", val);
    mysql_rollback(a);
    chain_step("ch6a", a, "", "SELECT CONCAT(@@autocommit, '|', @@in_transaction)");
    snprintf(sql, sizeof sql, "INSERT INTO ps_ids (v) VALUES (7)");
    MYSQL *c = must_open();
    mysql_autocommit(c, 0);
    run(c, sql, val, sizeof val);
    printf("ch7_commit=%d\n", mysql_commit(c));
    chain_step("ch7", c, "", "SELECT @@in_transaction");
    chain_step("ch8", must_open(), "", "SELECT CONCAT(@@autocommit, '|', @@in_transaction)");
    chain_step("rows", must_open(), "", "SELECT GROUP_CONCAT(v ORDER BY v) FROM ps_ids");
}

/* MODE answers: mysql_select_db and mysql_set_character_set in turn on A (see the header). */
static void answer_turns(MYSQL *a)
{
    static const char *const dbs[] = {"t", "information_schema", "ps_no_such_db", "t"};
    static const char *const sets[] = {"utf8mb4", "latin1", "ps_no_such_charset", "UTF8MB4"};
    char val[1024];
    for (int i = 0; i < 8; i++) {
        int rc = i < 4 ? mysql_select_db(a, dbs[i]) : mysql_set_character_set(a, sets[i - 4]);
        printf("answers%d=%d|%u|%s|%s|%lld|%s|%u|%s|%s|", i + 1, rc, mysql_errno(a),
               mysql_sqlstate(a), mysql_error(a), (long long)mysql_affected_rows(a),
               mysql_info(a) ? mysql_info(a) : "-", mysql_warning_count(a), a->db ? a->db : "-",
               mysql_character_set_name(a));
        run(a,
            "SELECT CONCAT_WS('|', IFNULL(DATABASE(), '-'), @@character_set_client, "
            "@@character_set_connection, @@character_set_results, @@collation_connection)",
            val, sizeof val);
        printf("%s\n", val);
        if (i == 3) /* the next calls start from the handshake's character set again */
            run(a, "SELECT 1", val, sizeof val);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        app_die(0, "usage: state_probe close|pressure|idle|fork SQL");
    const char *mode = argv[1];
    unsigned err = 0;
    char msg[512], val[1024];
    if (!strcmp(mode, "close")) {
        /* a first connection, parked: A gets it (its key proven then, see test_session) */
        MYSQL *p = open_handle(&err, msg, sizeof msg);
        if (!p)
            app_die(err, "connect: %s", msg);
        mysql_close(p);
    }
    MYSQL *a = open_handle(&err, msg, sizeof msg);
    if (!a)
        app_die(err, "connect: %s", msg);
    run(a, argv[2], val, sizeof val);
    printf("row=%s\n", val);
    if (!strcmp(mode, "close")) {
        mysql_close(a);
        a = open_handle(&err, msg, sizeof msg);
        if (!a)
            app_die(err, "reconnect: %s", msg);
    } else if (!strcmp(mode, "pressure")) {
        second_handle();
    } else if (!strcmp(mode, "idle")) {
        const char *ms = getenv("STATE_PROBE_IDLE_MS");
        usleep((useconds_t)(ms ? atoi(ms) : 700) * 1000);
        MYSQL *b = open_handle(&err, msg, sizeof msg);
        if (b)
            mysql_close(b);
    } else if (!strcmp(mode, "fork")) {
        child_probe(a);
    } else if (!strcmp(mode, "autocommit")) {
        autocommit_turns(a);
    } else if (!strcmp(mode, "autocommit-chain")) {
        mysql_close(a);
        autocommit_chain();
        return 0;
    } else if (!strcmp(mode, "answers")) {
        answer_turns(a);
    } else {
        app_die(0, "unknown mode %s", mode);
    }
    probe(a, "");
    mysql_close(a);
    return 0;
}
