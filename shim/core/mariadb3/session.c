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

const char *mdb_unparkable(void *hv)
{
    MYSQL *h = hv;
    if (!h->net.pvio)
        return "connection lost";
    if (h->status != MYSQL_STATUS_READY)
        return "unread result set";
    if (h->server_status & SERVER_MORE_RESULTS_EXIST)
        return "pending result sets";
    if (h->stmts)
        return "open prepared statements";
    if (mdb_nonblocking(h))
        return "non-blocking (async) handle";
    return NULL;
}

/* True when ERR came from the server (an error packet), not from the client library. */
static bool server_error(unsigned err)
{
    return err && (err < CR_MIN_ERROR || err > CR_MAX_ERROR) &&
           (err < CER_MIN_ERROR || err > CER_MAX_ERROR);
}

const char *mdb_unreapable(void *hv)
{
    MYSQL *h = hv;
    const char *why = mdb_unparkable(h);
    if (why)
        return why;
    if (h->server_status & SERVER_STATUS_IN_TRANS)
        return "open transaction";
    if (h->warning_count)
        return "warnings not yet read (SHOW WARNINGS)";
    if (server_error(h->net.last_errno))
        return "the last statement's error not yet read (SHOW WARNINGS)";
    return NULL;
}

/* ---- queries ---------------------------------------------------------------------------- */

/* Runs QUERY and discards all its results; true on success. */
static bool run_discarding(MYSQL *h, const char *query)
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

/* ---- what a reap reads for the renewal: diagnostics, and the session variables set by
 * replayable SETs (PS_SQL_VARIABLES) -------------------------------------------------------- */

bool mdb_variables_replayable(void *hv)
{
    MYSQL *h = hv;
    /* MariaDB has every variable of the list (10.1 and later); another server may not. */
    return h->server_version && strstr(h->server_version, "MariaDB");
}

/* "SELECT LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT()", then, when VARIABLES, "@@session.v"
 * for every replayed variable in the list's order; false when it does not fit in SQL (N
 * bytes). */
static bool values_query(char *sql, size_t n, bool variables)
{
    size_t len = (size_t)snprintf(sql, n, "SELECT LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT()");
    for (const char *const *v = ps_sql_replayed_variables; variables && *v && len < n; v++)
        len += (size_t)snprintf(sql + len, n - len, ", @@session.%s", *v);
    return len < n;
}

/* Appends "NAME = VALUE" to the SET in OUT (N bytes): VALUE unquoted when it is NULL or a
 * number, quoted otherwise; false when VALUE has a quote, backslash or control byte (never
 * in these variables' values) or OUT is full. */
static bool append_assignment(char *out, size_t n, const char *name, const char *value)
{
    bool number = value && *value && strspn(value, "0123456789.") == strlen(value);
    for (const char *p = value; p && *p; p++)
        if (*p == '\\' || *p == '\'' || (unsigned char)*p < 0x20)
            return false;
    size_t len = strlen(out);
    int w =
        snprintf(out + len, n - len, "%s%s = %s%s%s", len > 4 ? ", " : "", name,
                 number || !value ? "" : "'", value ? value : "NULL", number || !value ? "" : "'");
    return w > 0 && (size_t)w < n - len;
}

/* The SET giving a new connection the variables' VALUES (ROW's columns, in the list's order);
 * malloc'd, NULL on OOM or when a value cannot be written. */
static char *variables_set(MYSQL_ROW values)
{
    enum { SET_MAX = 2048 };
    char *set = malloc(SET_MAX);
    bool ok = set != NULL;
    if (ok)
        strcpy(set, "SET ");
    for (unsigned i = 0; ok && ps_sql_replayed_variables[i]; i++)
        ok = append_assignment(set, SET_MAX, ps_sql_replayed_variables[i], values[i]);
    if (!ok) {
        free(set);
        return NULL;
    }
    return set;
}

bool mdb_read_values(void *hv, ps_replay_values *v, char **variables)
{
    MYSQL *h = hv;
    char sql[1024];
    int rc = 1;
    if (values_query(sql, sizeof sql, variables != NULL))
        PS_NESTED(rc = ps_real_mysql_real_query(h, sql, (unsigned long)strlen(sql)));
    MYSQL_RES *res = NULL;
    if (rc == 0)
        PS_NESTED(res = ps_real_mysql_store_result(h));
    MYSQL_ROW row = res ? ps_real_mysql_fetch_row(res) : NULL;
    bool ok = row && row[0] && row[1] && row[2];
    char *set = NULL;
    if (ok && variables)
        ok = (set = variables_set(row + 3)) != NULL;
    if (ok) {
        v->last_insert_id = strtoull(row[0], NULL, 10);
        v->found_rows = strtoull(row[1], NULL, 10);
        v->row_count = strtoll(row[2], NULL, 10);
        v->diagnostics_known = true;
        if (variables)
            *variables = set;
    }
    if (res)
        ps_real_mysql_free_result(res);
    return ok;
}

int64_t mdb_server_wait_timeout(void *hv, ps_conn *c)
{
    MYSQL *h = hv;
    const mdb_facts *f = c->facts;
    if (f->login_known)
        return f->wait_timeout_ms; /* read with the login's facts: no round trip */
    unsigned long long secs = 0;
    if (!query_number(h, "SELECT @@wait_timeout", &secs))
        secs = 0;
    mdb_show_connect_results(h, c); /* the program must see a fresh connect's handle */
    return (int64_t)secs * 1000;
}

/* ---- what the login gave ------------------------------------------------------------------ */

/* The role the login set, the server's init_connect (empty when the server exempts this user:
 * SUPER or CONNECTION ADMIN, as its login decides), and wait_timeout (CLIENT_INTERACTIVE
 * logins get interactive_timeout). */
static const char login_query[] =
    "SELECT CURRENT_ROLE(), IF(@@global.init_connect = '' OR EXISTS(SELECT 1 FROM "
    "information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ('SUPER', 'CONNECTION ADMIN') "
    "AND GRANTEE = CONCAT('''', LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - "
    "CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), '''@''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')), '', @@global.init_connect), "
    "@@wait_timeout";

/* A malloc'd copy of V; NULL for NULL. *OK becomes false when the copy failed. */
static char *copy_value(const char *v, bool *ok)
{
    char *c = v ? strdup(v) : NULL;
    if (v && !c)
        *ok = false;
    return c;
}

void mdb_read_login(MYSQL *h, mdb_facts *f)
{
    int rc = 1;
    if (h->net.pvio)
        PS_NESTED(rc = ps_real_mysql_real_query(h, login_query, sizeof login_query - 1));
    MYSQL_RES *res = NULL;
    if (rc == 0)
        PS_NESTED(res = ps_real_mysql_store_result(h));
    MYSQL_ROW row = res ? ps_real_mysql_fetch_row(res) : NULL;
    bool ok = row && row[1] && row[2];
    if (ok) {
        f->role = copy_value(row[0], &ok);
        f->init_connect = *row[1] ? copy_value(row[1], &ok) : NULL;
        f->wait_timeout_ms = (int64_t)strtoull(row[2], NULL, 10) * 1000;
    }
    if (res)
        ps_real_mysql_free_result(res);
    f->login_known = ok;
    f->role_known = ok && h->server_version && strstr(h->server_version, "MariaDB");
}

/* ---- reset ------------------------------------------------------------------------------ */

/* Appends ", " when SQL already has an assignment. */
static void set_separator(char *sql, size_t n)
{
    if (strcmp(sql, "SET ") != 0)
        strncat(sql, ", ", n - strlen(sql) - 1);
}

/* Replays H's init commands (MYSQL_INIT_COMMAND), as a fresh connect would run them. */
static bool replay_init_commands(MYSQL *h)
{
    char **cmds = NULL;
    unsigned n = 0;
    if (ps_real_mysql_get_optionv(h, MYSQL_INIT_COMMAND, (void *)&cmds, &n) || !cmds)
        return true;
    for (unsigned i = 0; i < n; i++)
        if (!run_discarding(h, cmds[i]))
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
    return run_discarding(h, sql);
}

/* What a login with CLIENT_INTERACTIVE or CLIENT_IGNORE_SPACE sets and the reset drops. */
static bool restore_login_variables(MYSQL *h, const mdb_facts *f)
{
    char sql[256] = "SET ";
    if (f->interactive)
        strcat(sql, "SESSION wait_timeout = @@session.interactive_timeout");
    if (f->ignore_space) {
        set_separator(sql, sizeof sql);
        strcat(sql, "SESSION sql_mode = IF(@@session.sql_mode = '', 'IGNORE_SPACE', "
                    "CONCAT(@@session.sql_mode, ',IGNORE_SPACE'))");
    }
    return run_discarding(h, sql);
}

/* Runs the server's init_connect again as the login ran it: as one multi-statement query. */
static bool replay_init_connect(MYSQL *h, const mdb_facts *f)
{
    bool toggle = !f->multi_statements && strchr(f->init_connect, ';');
    if (toggle && !set_multi_statements(h, true))
        return false;
    bool ok = run_discarding(h, f->init_connect);
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

/* COM_RESET_CONNECTION (a re-authentication on servers without it), then the connect-time
 * database, charset and status. */
static bool reset_session(MYSQL *h, const mdb_facts *f)
{
    int rc;
    bool ok;
    h->charset = f->charset; /* a re-authentication sends it */
    PS_NESTED(rc = ps_real_mysql_reset_connection(h));
    if (rc == 0)
        ok = restore_database(h, f->dsn_db);
    else if (ps_real_mysql_errno(h) == ER_UNKNOWN_COM_ERROR && h->net.pvio)
        ok = change_user_to(h, f->dsn_db); /* pre-10.2 server */
    else
        ok = false;
    h->charset = f->charset;
    h->server_status = SERVER_STATUS_AUTOCOMMIT;
    return ok;
}

/* Gives back, in the login's order, what the reset leaves or takes: FOUND_ROWS() after
 * SQL_CALC_FOUND_ROWS, the multi-statement option and the role (each only when LASTING says
 * the lease may have changed it), then what the login itself set (CLIENT_INTERACTIVE,
 * CLIENT_IGNORE_SPACE, the server's init_connect: only for keys and servers that have them). */
static bool restore_login(MYSQL *h, const mdb_facts *f, unsigned lasting)
{
    if ((lasting & PS_SQL_FOUND_ROWS) && !run_discarding(h, "SELECT 1"))
        return false; /* a fresh session's FOUND_ROWS() is 1 */
    if ((lasting & PS_SQL_SERVER_OPTION) && !set_multi_statements(h, f->multi_statements))
        return false;
    if ((lasting & PS_SQL_ROLE) && !restore_role(h, f->role))
        return false;
    if ((f->interactive || f->ignore_space) && !restore_login_variables(h, f))
        return false;
    return !f->init_connect || replay_init_connect(h, f);
}

bool mdb_reset(void *hv, ps_conn *c, unsigned lasting)
{
    MYSQL *h = hv;
    const mdb_facts *f = c->facts;
    const char *why = unrestorable(f, lasting);
    if (why) {
        ps_debug(NULL, "closing handle %p's connection instead of parking it: %s", (void *)h, why);
        return false;
    }
    my_bool reconnect = h->options.reconnect;
    h->options.reconnect = 0;
    bool ok = reset_session(h, f) && restore_login(h, f, lasting) && replay_init_commands(h);
    h->options.reconnect = reconnect;
    return ok;
}

/* ---- re-authentication ------------------------------------------------------------------ */

/* How H's failed call ended: refused when the server answered with an error, failed when the
 * library could not get an answer (its own error codes). *ERR gets H's error. */
static enum ps_reauth reauth_failure(MYSQL *h, ps_connect_error *err)
{
    unsigned e = h->net.last_errno;
    bool client =
        (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR) || (e >= CER_MIN_ERROR && e <= CER_MAX_ERROR);
    err->code = e;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", h->net.sqlstate);
    snprintf(err->message, sizeof err->message, "%s", h->net.last_error);
    return e && !client && h->net.pvio ? PS_REAUTH_REFUSED : PS_REAUTH_FAILED;
}

/* COM_CHANGE_USER on parked P as its own user, then a statement, then what the login set
 * (restore_login) and P's init commands; P's options are the app's (lent), reconnection off. */
static enum ps_reauth change_user_checked(MYSQL *p, const mdb_facts *f, ps_connect_error *err)
{
    my_bool rc;
    PS_NESTED(rc = ps_real_mysql_change_user(p, p->user, p->passwd, f->dsn_db));
    if (rc)
        return reauth_failure(p, err);
    /* An expired password is accepted into a "sandbox" session that refuses every statement
     * but SET (1820): only a statement tells it from a usable session. SELECT 1 also leaves
     * FOUND_ROWS() at 1, as a fresh session has it (COM_CHANGE_USER keeps the old count). */
    if (!run_discarding(p, "SELECT 1"))
        return reauth_failure(p, err);
    p->charset = f->charset;
    p->server_status = SERVER_STATUS_AUTOCOMMIT;
    /* COM_CHANGE_USER drops what the login set, like COM_RESET_CONNECTION: give it back */
    if (!restore_login(p, f, 0) || !replay_init_commands(p))
        return reauth_failure(p, err);
    return PS_REAUTH_OK;
}

enum ps_reauth mdb_reauthenticate(void *appv, ps_conn *c, ps_connect_error *err)
{
    MYSQL *app = appv, *p = c->handle;
    mdb_options_extension *ext = mdb_opt_ext(app);
    if (!ext || !ext->status_callback) /* the library calls it with session-tracking data */
        ps_real_mysql_optionsv(app, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL);
    struct st_mysql_options own = p->options;
    p->options = app->options; /* the charset, auth plugin and init commands of a new connect */
    mdb_options_follow(p, app);
    my_bool reconnect = p->options.reconnect;
    p->options.reconnect = 0;
    enum ps_reauth r = change_user_checked(p, c->facts, err);
    p->options.reconnect = reconnect;
    app->options = p->options;
    mdb_options_follow(app, p);
    p->options = own;
    return r;
}

/* ---- replay of a reaped handle's session ------------------------------------------------ */

/* FOUND_ROWS() values a renewal gives back (README limits: beyond it, another value). */
#define FOUND_ROWS_REPLAY_MAX 1000000ULL

/* What a husk showed before a renewal put a connection into it: its session to replay, and
 * what it shows again if the replay fails (never another session's database). */
typedef struct husk_view {
    char *db; /* owned copy; NULL: none */
    const MARIADB_CHARSET_INFO *charset;
    unsigned server_status;
    unsigned long long insert_id;
} husk_view;

/* True when DB names a database (the session tracker reports "" after a DROP DATABASE). */
static bool names_db(const char *db)
{
    return db && *db;
}

/* How the replay's step that just ran on H ended (OK: it succeeded). */
static enum ps_replay step_outcome(MYSQL *h, bool ok)
{
    if (ok)
        return PS_REPLAY_DONE;
    return server_error(h->net.last_errno) ? PS_REPLAY_REFUSED : PS_REPLAY_LOST;
}

/* True when H's server has recursive CTEs and SQL_CALC_FOUND_ROWS without a warning
 * (MariaDB 10.2.2 and later). */
static bool counts_rows(const MYSQL *h)
{
    unsigned major = 0, minor = 0, patch = 0;
    if (!h->server_version || !strstr(h->server_version, "MariaDB") ||
        sscanf(h->server_version, "%u.%u.%u", &major, &minor, &patch) != 3)
        return false;
    return major * 10000 + minor * 100 + patch >= 100202;
}

/* Runs a SELECT that returns a result set (ROW_COUNT() -1 after it) and leaves FOUND_ROWS() at
 * F: a count the server makes without sending rows (a recursive CTE of at most 1000 rows,
 * joined with itself). F above FOUND_ROWS_REPLAY_MAX, or above 1 where the server cannot
 * count that way, gives 1 (README limits). */
static bool replay_found_rows(MYSQL *h, unsigned long long f)
{
    char sql[400];
    if (f <= 1 || f > FOUND_ROWS_REPLAY_MAX || !counts_rows(h)) {
        /* LIMIT: the program's sql_select_limit (a replayed variable) may be 0 */
        snprintf(sql, sizeof sql, "SELECT 1 FROM DUAL WHERE %d LIMIT 1", f != 0);
        return run_discarding(h, sql);
    }
    unsigned long long inner = f < 1000 ? f : 1000, outer = (f + inner - 1) / inner;
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE ps_n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM ps_n WHERE i < %llu) "
             "SELECT SQL_CALC_FOUND_ROWS 1 FROM ps_n a JOIN ps_n b "
             "WHERE a.i <= %llu AND (a.i - 1) * %llu + b.i <= %llu LIMIT 0",
             inner, outer, inner, f);
    return run_discarding(h, sql);
}

/* Replays the husk's autocommit, charset and LAST_INSERT_ID (ID) on H in one SET, when any
 * differs from a fresh session's; *RAN is set when it ran. */
static bool replay_variables(MYSQL *h, const husk_view *was, unsigned long long id, bool *ran)
{
    char sql[256] = "SET ";
    const MARIADB_CHARSET_INFO *cs = was->charset;
    if (!(was->server_status & SERVER_STATUS_AUTOCOMMIT))
        strcat(sql, "autocommit=0");
    if (cs && (strcmp(cs->csname, h->charset->csname) || strcmp(cs->name, h->charset->name))) {
        set_separator(sql, sizeof sql);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "NAMES '%s' COLLATE '%s'", cs->csname,
                 cs->name);
    }
    if (id) {
        set_separator(sql, sizeof sql);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "last_insert_id=%llu", id);
    }
    if (strcmp(sql, "SET ")) {
        *ran = true;
        if (!run_discarding(h, sql))
            return false;
    }
    if (cs)
        h->charset = cs;
    return true;
}

/* Makes the husk's database DB (NULL or "": none) H's current one; *RAN is set when a command
 * ran. Only a re-login can leave a database, so a husk without one on a connection with one
 * is refused (H fails like a lost connection). */
static enum ps_replay replay_database(MYSQL *h, const char *db, bool *ran)
{
    if (!names_db(db)) {
        if (!names_db(h->db))
            return PS_REPLAY_DONE;
        mdb_fail(h, PS_FAIL_GONE, NULL);
        return PS_REPLAY_REFUSED;
    }
    if (h->db && !strcmp(db, h->db))
        return PS_REPLAY_DONE;
    int rc;
    *ran = true;
    PS_NESTED(rc = ps_real_mysql_select_db(h, db));
    return step_outcome(h, rc == 0);
}

/* Replays on H what the husk WAS and what V says of its session: autocommit, charset and
 * LAST_INSERT_ID() in one SET, the session VARIABLES (mdb_read_values' SET; NULL: none), the
 * database, and, when V knows them, FOUND_ROWS() and ROW_COUNT() as the program's last
 * statement left them (-1 after a result set, else 0: a row-changing statement's count cannot
 * be made again, README limits). Stops at the first step that fails. */
static enum ps_replay replay_session(MYSQL *h, const husk_view *was, const ps_replay_values *v,
                                     const char *variables)
{
    bool diagnostics = v->diagnostics_known, rows_last = diagnostics && v->row_count == -1;
    bool ran = false; /* a statement that leaves ROW_COUNT() at 0 ran */
    if (diagnostics && !rows_last && !replay_found_rows(h, v->found_rows))
        return step_outcome(h, false);
    if (!replay_variables(h, was, v->last_insert_id, &ran))
        return step_outcome(h, false);
    if (variables) { /* a SET: FOUND_ROWS() kept, ROW_COUNT() 0 */
        ran = true;
        if (!run_discarding(h, variables))
            return step_outcome(h, false);
    }
    enum ps_replay r = replay_database(h, was->db, &ran);
    if (r != PS_REPLAY_DONE)
        return r;
    if (rows_last)
        return step_outcome(h, replay_found_rows(h, v->found_rows));
    if (diagnostics && !ran)
        return step_outcome(h, run_discarding(h, "DO 0")); /* ROW_COUNT() 0, the rest kept */
    return PS_REPLAY_DONE;
}

/* Shows the husk's view WAS on H again (its database copy now owned by H) after a failed
 * replay; H keeps the failed step's error. */
static void show_husk_view(MYSQL *h, husk_view *was)
{
    free(h->db);
    h->db = was->db;
    was->db = NULL;
    h->charset = was->charset;
    h->server_status = was->server_status;
    h->insert_id = was->insert_id;
}

enum ps_replay mdb_renew(void *hv, ps_conn *c, const ps_replay_values *v, const char *variables)
{
    MYSQL *h = hv;
    husk_view was = {h->db ? strdup(h->db) : NULL, h->charset, h->server_status, h->insert_id};
    bool copied = !h->db || was.db; /* else out of memory: the database is unknown */
    mdb_adopt(h, c);
    mdb_retrack(h);
    enum ps_replay r = PS_REPLAY_REFUSED;
    if (copied)
        r = replay_session(h, &was, v, variables);
    else
        mdb_fail(h, PS_FAIL_GONE, NULL);
    if (r != PS_REPLAY_DONE)
        show_husk_view(h, &was);
    free(was.db);
    return r;
}

bool mdb_reconnects(void *hv)
{
    return ((MYSQL *)hv)->options.reconnect != 0;
}
