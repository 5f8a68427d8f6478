/* A connection's server session: whether it may be parked or reaped, the reset at release
 * (COM_RESET_CONNECTION, or change_user on old servers, then the connect-time database,
 * character set and init commands again, and what the reset leaves behind: README "What the
 * reset covers"), the replay of a reaped handle's session when it gets a connection back, and
 * the queries the pool needs. Every query here runs nested, so the tracking wrappers and the
 * interposed functions pass it straight through. */
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

/* WHY, with its class CLS in *HOLD. */
static const char *hold_as(enum ps_hold *hold, enum ps_hold cls, const char *why)
{
    *hold = cls;
    return why;
}

/* Why H cannot be parked (NULL: it can); *HOLD gets the reason's class. */
static const char *unparkable_as(MYSQL *h, enum ps_hold *hold)
{
    if (!h->net.pvio)
        return hold_as(hold, PS_HOLD_OTHER, "connection lost");
    if (h->status != MYSQL_STATUS_READY)
        return hold_as(hold, PS_HOLD_RESULTS, "unread result set");
    if (h->server_status & SERVER_MORE_RESULTS_EXIST)
        return hold_as(hold, PS_HOLD_RESULTS, "pending result sets");
    if (h->stmts)
        return hold_as(hold, PS_HOLD_STATEMENTS, "open prepared statements");
    if (mdb_nonblocking(h))
        return hold_as(hold, PS_HOLD_OTHER, "non-blocking (async) handle");
    return NULL;
}

const char *mdb_unparkable(void *hv)
{
    enum ps_hold hold;
    return unparkable_as(hv, &hold);
}

/* True when ERR came from the server (an error packet), not from the client library. */
bool mdb_server_error(unsigned err)
{
    return err && (err < CR_MIN_ERROR || err > CR_MAX_ERROR) &&
           (err < CER_MIN_ERROR || err > CER_MAX_ERROR);
}

const char *mdb_unreapable(void *hv, enum ps_hold *hold)
{
    MYSQL *h = hv;
    const char *why = unparkable_as(h, hold);
    if (why)
        return why;
    if (h->server_status & SERVER_STATUS_IN_TRANS)
        return hold_as(hold, PS_HOLD_TRANSACTION, "open transaction");
    if (h->warning_count)
        return hold_as(hold, PS_HOLD_DIAGNOSTICS, "warnings not yet read (SHOW WARNINGS)");
    if (mdb_server_error(h->net.last_errno))
        return hold_as(hold, PS_HOLD_DIAGNOSTICS,
                       "the last statement's error not yet read (SHOW WARNINGS)");
    return NULL;
}

/* True when H's session runs with autocommit: what H shows, unless C's session lags it. */
static bool session_autocommit(const MYSQL *h, const ps_conn *c)
{
    const mdb_facts *f = c->facts;
    return c->sync_pending ? f->autocommit : (h->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
}

bool mdb_answer_autocommit(void *hv, ps_conn *c, bool mode)
{
    MYSQL *h = hv;
    mdb_facts *f = c->facts;
    unsigned st = h->server_status;
    bool shown = (st & SERVER_STATUS_AUTOCOMMIT) != 0;
    if (!h->net.pvio || h->status != MYSQL_STATUS_READY || h->warning_count || h->net.last_errno ||
        (st & (SERVER_STATUS_IN_TRANS | SERVER_MORE_RESULTS_EXIST)))
        return false;
    if (shown != mode && !f->tracking)
        return false; /* only a tracked session's mode is known at every park */
    bool runs = session_autocommit(h, c);
    /* what the library leaves after "SET autocommit=N" is answered with an OK packet */
    h->affected_rows = 0;
    h->insert_id = 0;
    h->field_count = 0;
    h->info = NULL;
    st &= ~(SERVER_SESSION_STATE_CHANGED | SERVER_STATUS_AUTOCOMMIT);
    h->server_status = st | (mode ? SERVER_STATUS_AUTOCOMMIT : 0);
    strcpy(h->net.sqlstate, "00000");
    h->net.last_error[0] = '\0';
    f->autocommit = runs;
    c->sync_pending = runs != mode;
    return true;
}

bool mdb_sync(void *hv, ps_conn *c)
{
    MYSQL *h = hv;
    mdb_facts *f = c->facts;
    bool mode = (h->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
    if (c->sync_pending && f->autocommit != mode) {
        /* what the program's command finds is its own: the SET leaves nothing it would see */
        unsigned long long affected = h->affected_rows, id = h->insert_id;
        unsigned st = h->server_status;
        if (!mdb_run_discarding(h, mode ? "SET autocommit=1" : "SET autocommit=0"))
            return false;
        h->affected_rows = affected;
        h->insert_id = id;
        h->server_status = st;
    }
    f->autocommit = mode;
    c->sync_pending = false;
    return true;
}

/* ---- queries ---------------------------------------------------------------------------- */

/* Runs QUERY and discards all its results; true on success. */
bool mdb_run_discarding(MYSQL *h, const char *query)
{
    int rc;
    PS_NESTED(rc = ps_real_mysql_real_query(h, query, (unsigned long)strlen(query)));
    if (rc)
        return false;
    do {
        MYSQL_RES *res;
        PS_NESTED(res = ps_real_mysql_store_result(h));
        if (res)
            ps_real_mysql_free_result(res);
        else if (ps_real_mysql_errno(h))
            return false;
        PS_NESTED(rc = ps_real_mysql_next_result(h));
    } while (rc == 0);
    return rc < 0;
}

/* Runs a one-value query on H and parses it as an unsigned number. */
static bool query_number(MYSQL *h, const char *sql, unsigned long long *out)
{
    int rc;
    PS_NESTED(rc = ps_real_mysql_real_query(h, sql, (unsigned long)strlen(sql)));
    if (rc)
        return false;
    MYSQL_RES *res;
    PS_NESTED(res = ps_real_mysql_store_result(h));
    if (!res)
        return false;
    MYSQL_ROW row = ps_real_mysql_fetch_row(res);
    bool ok = row && row[0];
    if (ok)
        *out = strtoull(row[0], NULL, 10);
    ps_real_mysql_free_result(res);
    return ok;
}

void mdb_server_limits(void *hv, ps_conn *c, ps_server_limits *l)
{
    MYSQL *h = hv;
    const mdb_facts *f = c->facts;
    *l = (ps_server_limits){0, 0, 0};
    if (f->login_known) { /* read with the login's facts: no round trip */
        l->wait_timeout_ms = f->wait_timeout_ms;
        l->max_connections = f->max_connections;
        l->max_user_connections = f->max_user_connections;
        return;
    }
    unsigned long long secs = 0;
    if (query_number(h, "SELECT @@wait_timeout", &secs))
        l->wait_timeout_ms = (int64_t)secs * 1000;
    mdb_show_connect_results(h, c); /* the program must see a fresh connect's handle */
}

/* Leaves FOUND_ROWS() at 1, as many fresh sessions read it (others read 0). */
static const char found_rows_query[] = "SELECT 1";

/* ---- reset ------------------------------------------------------------------------------ */

/* Appends ", " when SQL already has an assignment. */
void mdb_set_separator(char *sql, size_t n)
{
    if (strcmp(sql, "SET ") != 0)
        strncat(sql, ", ", n - strlen(sql) - 1);
}

/* Replays H's init commands (MYSQL_INIT_COMMAND), as a fresh connect would run them. */
bool mdb_replay_init_commands(MYSQL *h)
{
    char **cmds = NULL;
    unsigned n = 0;
    if (ps_real_mysql_get_optionv(h, MYSQL_INIT_COMMAND, (void *)&cmds, &n) || !cmds)
        return true;
    for (unsigned i = 0; i < n; i++)
        if (!mdb_run_discarding(h, cmds[i]))
            return false;
    return true;
}

/* Re-authenticates H as itself with database DB (NULL: none); the old-server reset. */
static bool change_user_to(MYSQL *h, const char *db)
{
    my_bool rc;
    PS_NESTED(rc = ps_real_mysql_change_user(h, h->user, h->passwd, db));
    return rc == 0;
}

/* Makes the current database the connect-time DB again. */
static bool restore_database(MYSQL *h, const char *db)
{
    bool tracked = (h->server_capabilities & CLIENT_SESSION_TRACKING) != 0;
    if (db) {
        if (tracked && h->db && !strcmp(h->db, db))
            return true;
        int rc;
        PS_NESTED(rc = ps_real_mysql_select_db(h, db));
        return rc == 0;
    }
    /* No database at connect: only a re-authentication can unselect one. */
    if (tracked && !h->db)
        return true;
    return change_user_to(h, NULL);
}

/* Sets the multi-statement option of H's session (COM_SET_OPTION): ON when ON, else OFF. */
static bool set_multi_statements(MYSQL *h, bool on)
{
    int rc;
    PS_NESTED(rc = ps_real_mysql_set_server_option(h, on ? MYSQL_OPTION_MULTI_STATEMENTS_ON
                                                         : MYSQL_OPTION_MULTI_STATEMENTS_OFF));
    return rc == 0;
}

/* Makes ROLE (NULL: none) H's current role again. */
static bool restore_role(MYSQL *h, const char *role)
{
    char sql[1024] = "SET ROLE NONE";
    if (role) {
        size_t n = strlen(strcpy(sql, "SET ROLE `"));
        for (const char *p = role; *p && n + 4 < sizeof sql; p++) {
            if (*p == '`')
                sql[n++] = '`';
            sql[n++] = *p;
        }
        if (n + 4 >= sizeof sql)
            return false; /* longer than any role name */
        strcpy(sql + n, "`");
    }
    return mdb_run_discarding(h, sql);
}

/* The SET (into SQL, N bytes) giving a session back what the login set and a reset or a
 * re-authentication drops: the shim's state-change tracking, and what CLIENT_INTERACTIVE and
 * CLIENT_IGNORE_SPACE set; "" when there is nothing to set. */
static void login_set(const mdb_facts *f, char *sql, size_t n)
{
    snprintf(sql, n, "SET ");
    if (f->tracking)
        strncat(sql, mdb_tracking_on, n - strlen(sql) - 1);
    if (f->interactive) {
        mdb_set_separator(sql, n);
        strncat(sql, "SESSION wait_timeout = @@session.interactive_timeout", n - strlen(sql) - 1);
    }
    if (f->ignore_space) {
        mdb_set_separator(sql, n);
        strncat(sql,
                "SESSION sql_mode = IF(@@session.sql_mode = '', 'IGNORE_SPACE', "
                "CONCAT(@@session.sql_mode, ',IGNORE_SPACE'))",
                n - strlen(sql) - 1);
    }
    if (!strcmp(sql, "SET "))
        sql[0] = '\0';
}

/* Runs the server's init_connect again as the login ran it: as one multi-statement query. */
static bool replay_init_connect(MYSQL *h, const mdb_facts *f)
{
    bool toggle = !f->multi_statements && strchr(f->init_connect, ';');
    if (toggle && !set_multi_statements(h, true))
        return false;
    bool ok = mdb_run_discarding(h, f->init_connect);
    return toggle ? set_multi_statements(h, false) && ok : ok;
}

/* Why what the lease did (LASTING) cannot be given back on this connection; NULL when it can. */
static const char *unrestorable(const mdb_facts *f, unsigned lasting)
{
    if (lasting & PS_SQL_PROFILING)
        return "the profiling history (SET profiling) survives every reset";
    if (lasting & PS_SQL_DEFAULT_ROLE)
        return "the account's default role changed (SET DEFAULT ROLE): only a login takes it up";
    if ((lasting & PS_SQL_ROLE) && !f->role_known)
        return "the current role may have changed, and the login's is unknown";
    return NULL;
}

/* Sends COM_RESET_CONNECTION and then the N QUERIES (each unless "") without reading any
 * answer; the number of queries sent, or -1 when not all of it went out. */
static int send_reset(MYSQL *h, const char *const *queries, int n)
{
    int rc;
    PS_NESTED(rc = h->methods->db_command(h, COM_RESET_CONNECTION, NULL, 0, 1, NULL));
    if (rc)
        return -1;
    int sent = 0;
    for (int i = 0; i < n; i++) {
        if (*queries[i] && !mdb_send_query(h, queries[i]))
            return -1;
        sent += *queries[i] != '\0';
    }
    return sent;
}

/* Makes H show what mysql_reset_connection leaves: ready, no affected rows, no insert id. */
static void show_reset(MYSQL *h)
{
    h->status = MYSQL_STATUS_READY;
    h->affected_rows = ~0ULL;
    h->insert_id = 0;
}

/* Reads the answers of send_reset (the reset's, then QUERIES' ones); true when all succeeded:
 * H then shows what mysql_reset_connection leaves, and the last answer's status. */
static bool read_reset(MYSQL *h, int queries)
{
    unsigned long len;
    PS_NESTED(len = ps_real_mysql_net_read_packet(h));
    show_reset(h);
    bool ok = len != packet_error;
    for (int i = 0; i < queries; i++)
        ok = mdb_read_discarding(h) && ok;
    return ok;
}

/* COM_RESET_CONNECTION and then the N QUERIES (each sent unless "") in one round trip: all are
 * sent before any answer is read. True when all succeeded (see read_reset). */
static bool reset_pipelined(MYSQL *h, const char *const *queries, int n)
{
    int sent = send_reset(h, queries, n);
    return sent >= 0 && read_reset(h, sent);
}

/* COM_RESET_CONNECTION (a re-authentication on servers without it), then the connect-time
 * database, charset and status. On a tracking session the FOUND_ROWS() statement (after a lease
 * that used SQL_CALC_FOUND_ROWS: LASTING) and the login's SET (login_set) go out with the
 * reset, in the same round trip: *SET_DONE is then set. */
static bool reset_session(MYSQL *h, const mdb_facts *f, unsigned lasting, bool *set_done)
{
    int rc;
    bool ok;
    h->charset = f->charset; /* a re-authentication sends it */
    if (f->tracking) {
        char set[512];
        login_set(f, set, sizeof set);
        /* FOUND_ROWS() first, the SET last: ROW_COUNT() reads 0, as in a fresh session */
        const char *queries[] = {lasting & PS_SQL_FOUND_ROWS ? found_rows_query : "", set};
        ok = reset_pipelined(h, queries, 2) && restore_database(h, f->dsn_db);
        *set_done = true;
    } else {
        PS_NESTED(rc = ps_real_mysql_reset_connection(h));
        if (rc == 0)
            ok = restore_database(h, f->dsn_db);
        else if (ps_real_mysql_errno(h) == ER_UNKNOWN_COM_ERROR && h->net.pvio)
            ok = change_user_to(h, f->dsn_db); /* pre-10.2 server */
        else
            ok = false;
    }
    h->charset = f->charset;
    h->server_status = SERVER_STATUS_AUTOCOMMIT;
    return ok;
}

/* Gives back, in the login's order, what the reset leaves or takes: FOUND_ROWS() after
 * SQL_CALC_FOUND_ROWS, the multi-statement option and the role (each only when LASTING says
 * the lease may have changed it), then what the login itself set (the shim's tracking,
 * CLIENT_INTERACTIVE, CLIENT_IGNORE_SPACE; the server's init_connect: only for keys and servers
 * that have them). SET_DONE: FOUND_ROWS() and the login's SET went with the reset already. */
bool mdb_restore_login(MYSQL *h, const mdb_facts *f, unsigned lasting, bool set_done)
{
    char set[512];
    login_set(f, set, sizeof set);
    if (!set_done && (lasting & PS_SQL_FOUND_ROWS) && !mdb_run_discarding(h, found_rows_query))
        return false;
    if ((lasting & PS_SQL_SERVER_OPTION) && !set_multi_statements(h, f->multi_statements))
        return false;
    if ((lasting & PS_SQL_ROLE) && !restore_role(h, f->role))
        return false;
    if (!set_done && *set && !mdb_run_discarding(h, set))
        return false;
    return !f->init_connect || replay_init_connect(h, f);
}

/* True when H has init commands (MYSQL_INIT_COMMAND). */
static bool has_init_commands(MYSQL *h)
{
    char **cmds = NULL;
    unsigned n = 0;
    return !ps_real_mysql_get_optionv(h, MYSQL_INIT_COMMAND, (void *)&cmds, &n) && cmds && n;
}

/* True when the session of H, whose lease left no effect at all (LASTING 0: no statement that
 * changes state, no OK packet, warning, error or binary statement, no reset of its own), reads
 * as the login (F) left it, so that it can be parked as it is (README "Clean return"): the
 * server reports its every state change, no transaction or result is pending, the database and
 * charset are the connect's, and no init command or init_connect would run again. Its
 * autocommit mode may be another (the lease changed only that, without a round trip, or sent
 * it with sync): the next lease's handle shows the connect's, and sync catches the session up
 * before its first command (README "Autocommit without a round trip"). */
static bool untouched(MYSQL *h, const mdb_facts *f, unsigned lasting)
{
    if (lasting || !f->tracking || f->init_connect || has_init_commands(h))
        return false;
    unsigned st = h->server_status;
    if ((st &
         (SERVER_STATUS_IN_TRANS | SERVER_MORE_RESULTS_EXIST | SERVER_SESSION_STATE_CHANGED)) ||
        h->warning_count || mdb_server_error(h->net.last_errno))
        return false;
    bool same_db = f->dsn_db ? h->db && !strcmp(h->db, f->dsn_db) : !h->db;
    return same_db && h->charset == f->charset;
}

/* True when the reset of H's session after a lease that left LASTING is the pipelined one
 * alone (README "Close"): nothing to restore after its answers, so they can wait. */
static bool reset_alone(MYSQL *h, const mdb_facts *f, unsigned lasting)
{
    bool same_db = f->dsn_db ? h->db && !strcmp(h->db, f->dsn_db) : !h->db;
    return f->tracking && same_db && !(lasting & (PS_SQL_SERVER_OPTION | PS_SQL_ROLE)) &&
           !f->init_connect && !h->net.compress && !has_init_commands(h);
}

/* Sends H's reset (with what reset_session pipelines with it) and leaves its answers for
 * mdb_settle; false when it could not go out. */
static bool reset_deferred(MYSQL *h, ps_conn *c, unsigned lasting)
{
    mdb_facts *f = c->facts;
    char set[512];
    login_set(f, set, sizeof set);
    const char *queries[] = {lasting & PS_SQL_FOUND_ROWS ? found_rows_query : "", set};
    h->charset = f->charset;
    int sent = send_reset(h, queries, 2);
    if (sent < 0)
        return false;
    f->replies_unread = sent;
    c->replies_pending = true;
    show_reset(h); /* as read_reset leaves it, before the answers are read */
    h->server_status = SERVER_STATUS_AUTOCOMMIT;
    return true;
}

bool mdb_settle(void *hv, ps_conn *c)
{
    MYSQL *h = hv;
    mdb_facts *f = c->facts;
    MYSQL was = *h; /* only the scalar results below are put back */
    c->replies_pending = false;
    my_bool reconnect = h->options.reconnect;
    h->options.reconnect = 0;
    bool ok = read_reset(h, f->replies_unread);
    h->options.reconnect = reconnect;
    h->status = was.status;
    h->server_status = was.server_status;
    h->affected_rows = was.affected_rows;
    h->insert_id = was.insert_id;
    h->warning_count = was.warning_count;
    h->field_count = was.field_count;
    h->info = was.info;
    h->charset = was.charset;
    return ok;
}

bool mdb_settle_behind(MYSQL *h, ps_conn *c)
{
    /* what the command's send left, which the program's read of its response expects */
    unsigned pkt_nr = h->net.pkt_nr, compress_pkt_nr = h->net.compress_pkt_nr;
    bool ok = mdb_settle(h, c);
    h->net.pkt_nr = pkt_nr;
    h->net.compress_pkt_nr = compress_pkt_nr;
    if (!ok) { /* the command may have run after a failed reset: never read its answer */
        mdb_mute(h);
        mdb_set_error(h, CR_SERVER_LOST, "HY000", "Lost connection to server during query");
    }
    return ok;
}

enum ps_reset mdb_reset(void *hv, ps_conn *c, unsigned lasting, bool may_defer)
{
    MYSQL *h = hv;
    mdb_facts *f = c->facts;
    bool clean = untouched(h, f, lasting);
    if (c->replies_pending && !clean && !mdb_settle(h, c))
        return PS_RESET_FAILED; /* the last park's reset failed: the session is unknown */
    if (clean) { /* nothing to give back (and what the last park sent may stay unread) */
        ps_debug(NULL, "handle %p's session is as its connect left it: parked without a reset",
                 (void *)h);
        f->autocommit = session_autocommit(h, c); /* what the next lease's sync starts from */
        c->sync_pending = false;
        h->affected_rows = ~0ULL; /* what any command leaves (the program's close: COM_QUIT) */
        h->info = NULL;
        return PS_RESET_SKIPPED;
    }
    const char *why = unrestorable(f, lasting);
    if (why) {
        ps_debug(NULL, "closing handle %p's connection instead of parking it: %s", (void *)h, why);
        return PS_RESET_FAILED;
    }
    my_bool reconnect = h->options.reconnect;
    h->options.reconnect = 0;
    bool set_done = false, deferred = may_defer && reset_alone(h, f, lasting);
    bool ok = deferred
                  ? reset_deferred(h, c, lasting)
                  : reset_session(h, f, lasting, &set_done) &&
                        mdb_restore_login(h, f, lasting, set_done) && mdb_replay_init_commands(h);
    h->options.reconnect = reconnect;
    f->autocommit = (h->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
    c->sync_pending = false;
    if (!ok)
        return PS_RESET_FAILED;
    return deferred ? PS_RESET_DEFERRED : PS_RESET_SENT;
}
