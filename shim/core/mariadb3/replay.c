/* Renewing a reaped handle: what the reap reads from the session before giving its connection
 * back (LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), replayable session variables), and the
 * replay of all of it, with the husk's autocommit, charset and database, on the connection the
 * handle gets back. Every query runs nested. */
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

/* ---- what a reap reads for the renewal: diagnostics, and the session variables set by
 * replayable SETs (PS_SQL_VARIABLES) -------------------------------------------------------- */

bool mdb_variables_replayable(void *hv)
{
    MYSQL *h = hv;
    /* MariaDB has every variable of the list (10.1 and later); another server may not. */
    return h->server_version && strstr(h->server_version, "MariaDB");
}

/* "SELECT LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT()", then, when VARIABLES, "@@session.v"
 * for every replayed variable in the list's order; *COLUMNS gets its column count. False when
 * it does not fit in SQL (N bytes). */
static bool values_query(char *sql, size_t n, bool variables, unsigned *columns)
{
    size_t len = (size_t)snprintf(sql, n, "SELECT LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT()");
    *columns = 3;
    for (const char *const *v = ps_sql_replayed_variables; variables && *v && len < n; v++) {
        len += (size_t)snprintf(sql + len, n - len, ", @@session.%s", *v);
        ++*columns;
    }
    return len < n;
}

/* The SET giving a new connection the variables' VALUES (ROW's columns, in the list's order);
 * malloc'd, NULL on OOM or when a value cannot be written. */
static char *variables_set(MYSQL_ROW values)
{
    enum { SET_MAX = 8192 };
    char *set = malloc(SET_MAX);
    bool ok = set != NULL;
    if (ok)
        strcpy(set, "SET ");
    for (unsigned i = 0; ok && ps_sql_replayed_variables[i]; i++)
        ok = mdb_append_assignment(set, SET_MAX, ps_sql_replayed_variables[i], values[i]);
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
    unsigned columns;
    if (values_query(sql, sizeof sql, variables != NULL, &columns))
        PS_NESTED(rc = ps_real_mysql_real_query(h, sql, (unsigned long)strlen(sql)));
    MYSQL_RES *res = NULL;
    if (rc == 0)
        PS_NESTED(res = ps_real_mysql_store_result(h));
    MYSQL_ROW row = res ? ps_real_mysql_fetch_row(res) : NULL;
    /* the answer must be this query's: its columns, all set (never another's result set) */
    bool ok = row && res->field_count == columns && row[0] && row[1] && row[2];
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
    bool session_autocommit; /* the mode the new connection's session runs (mdb_facts) */
} husk_view;

/* True when DB names a database (the session tracker reports "" after a DROP DATABASE). */
static bool names_db(const char *db)
{
    return db && *db;
}

/* The replay's statements, sent together and answered together (one round trip): each a
 * COM_QUERY of its own, so that each answer says which part failed. */
enum { PIPE_MAX = 6 };
typedef struct pipeline {
    const char *sql[PIPE_MAX]; /* each owned by the caller (NULL-free: n of them) */
    int n;
} pipeline;

/* Appends SQL (caller-owned, outliving the pipeline) to P. */
static void pipe_add(pipeline *p, const char *sql)
{
    if (p->n < PIPE_MAX)
        p->sql[p->n++] = sql;
}

/* How a failed step of the replay on H ended: refused when the server answered with an error,
 * lost when the connection failed. */
static enum ps_replay failed_step(const MYSQL *h)
{
    return mdb_server_error(h->net.last_errno) ? PS_REPLAY_REFUSED : PS_REPLAY_LOST;
}

/* The error of the first failed step, kept while the later answers are read. */
typedef struct step_error {
    unsigned err;
    char sqlstate[SQLSTATE_LENGTH + 1];
    char msg[MYSQL_ERRMSG_SIZE];
} step_error;

/* What a replay sent: its statements (commands), and the round trips they took. */
typedef struct replay_cost {
    unsigned statements, round_trips;
} replay_cost;

/* Copies H's error into *E; how the step that left it ended. */
static enum ps_replay keep_error(const MYSQL *h, step_error *e)
{
    e->err = h->net.last_errno;
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", h->net.sqlstate);
    snprintf(e->msg, sizeof e->msg, "%s", h->net.last_error);
    return failed_step(h);
}

/* Sends every statement of P on H, then reads every answer (one round trip; a lost connection
 * stops both). DONE when all succeeded; else how the first failure ended, whose error H then
 * shows. COST counts them. */
static enum ps_replay run_pipeline(MYSQL *h, const pipeline *p, replay_cost *cost)
{
    int sent = 0, rc = 0;
    while (sent < p->n && rc == 0) {
        PS_NESTED(
            rc = ps_real_mysql_send_query(h, p->sql[sent], (unsigned long)strlen(p->sql[sent])));
        sent += rc == 0;
    }
    step_error first;
    enum ps_replay r = PS_REPLAY_DONE;
    if (sent < p->n)
        r = keep_error(h, &first);
    cost->round_trips += sent > 0;
    cost->statements += (unsigned)sent;
    for (int i = 0; i < sent; i++) {
        if (mdb_read_discarding(h))
            continue;
        enum ps_replay now = r == PS_REPLAY_DONE ? keep_error(h, &first) : failed_step(h);
        r = r == PS_REPLAY_DONE ? now : r;
        if (now == PS_REPLAY_LOST)
            break; /* nothing more will come */
    }
    if (r != PS_REPLAY_DONE)
        mdb_set_error(h, first.err, first.sqlstate, first.msg);
    return r;
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

/* Writes into SQL (N bytes) a SELECT that returns a result set (ROW_COUNT() -1 after it) and
 * leaves FOUND_ROWS() at F: a count the server makes without sending rows (a recursive CTE of
 * at most 1000 rows, joined with itself). F above FOUND_ROWS_REPLAY_MAX, or above 1 where the
 * server cannot count that way, gives 1 (README limits). */
static void found_rows_sql(const MYSQL *h, unsigned long long f, char *sql, size_t n)
{
    if (f <= 1 || f > FOUND_ROWS_REPLAY_MAX || !counts_rows(h)) {
        /* LIMIT: the program's sql_select_limit (a replayed variable) may be 0 */
        snprintf(sql, n, "SELECT 1 FROM DUAL WHERE %d LIMIT 1", f != 0);
        return;
    }
    unsigned long long inner = f < 1000 ? f : 1000, outer = (f + inner - 1) / inner;
    snprintf(sql, n,
             "WITH RECURSIVE ps_n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM ps_n WHERE i < %llu) "
             "SELECT SQL_CALC_FOUND_ROWS 1 FROM ps_n a JOIN ps_n b "
             "WHERE a.i <= %llu AND (a.i - 1) * %llu + b.i <= %llu LIMIT 0",
             inner, outer, inner, f);
}

/* Writes into SQL (N bytes) the SET giving H the husk's autocommit, charset and
 * LAST_INSERT_ID (ID), when any differs from a fresh session's; else "". */
static void session_set(const MYSQL *h, const husk_view *was, unsigned long long id, char *sql,
                        size_t n)
{
    const MARIADB_CHARSET_INFO *cs = was->charset;
    snprintf(sql, n, "SET ");
    bool autocommit = (was->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
    if (autocommit != was->session_autocommit) /* the new session may have kept another mode */
        snprintf(sql + strlen(sql), n - strlen(sql), autocommit ? "autocommit=1" : "autocommit=0");
    if (cs && (strcmp(cs->csname, h->charset->csname) || strcmp(cs->name, h->charset->name))) {
        mdb_set_separator(sql, n);
        snprintf(sql + strlen(sql), n - strlen(sql), "NAMES '%s' COLLATE '%s'", cs->csname,
                 cs->name);
    }
    if (id) {
        mdb_set_separator(sql, n);
        snprintf(sql + strlen(sql), n - strlen(sql), "last_insert_id=%llu", id);
    }
    if (!strcmp(sql, "SET "))
        *sql = '\0';
}

/* The husk's database DB (NULL or "": none) as a step on H: *USE gets "USE `db`" ("" when H
 * already is in it), or *INIT_DB is set when the name needs COM_INIT_DB (a backtick or a byte
 * outside printable ASCII, which the statement's quoting would read by the character set).
 * False when only a re-login could give it (a husk without a database on a connection with
 * one): H then fails like a lost connection, refused without a word to the server. */
static bool database_step(MYSQL *h, const char *db, char *use, size_t n, bool *init_db)
{
    *use = '\0';
    *init_db = false;
    if (!names_db(db)) {
        if (!names_db(h->db))
            return true;
        mdb_fail(h, PS_FAIL_GONE, NULL);
        return false;
    }
    if (h->db && !strcmp(db, h->db))
        return true;
    for (const char *p = db; *p && !*init_db; p++)
        *init_db = *p == '`' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f;
    if (!*init_db && (size_t)snprintf(use, n, "USE `%s`", db) >= n)
        *init_db = true;
    if (*init_db)
        snprintf(use, n, "COM_INIT_DB");
    return true;
}

/* COM_INIT_DB of DB on H (a round trip of its own, counted in COST). */
static enum ps_replay select_db(MYSQL *h, const char *db, replay_cost *cost)
{
    int rc;
    cost->round_trips++;
    cost->statements++;
    PS_NESTED(rc = ps_real_mysql_select_db(h, db));
    return rc == 0 ? PS_REPLAY_DONE : failed_step(h);
}

/* The replay's statements: found rows first, session SET, VARIABLES, USER_VARIABLES, the
 * database (in P; by COM_INIT_DB, between P and AFTER, when USE cannot name it), then FOUND_ROWS()
 * and ROW_COUNT() as the program's last statement left them, into AFTER (or P). The buffers in
 * B outlive both. */
typedef struct replay_text {
    char first_rows[400], set[256], use[300], last_rows[400];
    bool init_db;
} replay_text;

static void build_replay(MYSQL *h, const husk_view *was, const ps_replay_values *v,
                         const char *variables, const char *user_variables, replay_text *b,
                         pipeline *p, pipeline *after)
{
    bool diagnostics = v->diagnostics_known, rows_last = diagnostics && v->row_count == -1;
    if (diagnostics && !rows_last) {
        found_rows_sql(h, v->found_rows, b->first_rows, sizeof b->first_rows);
        pipe_add(p, b->first_rows);
    }
    session_set(h, was, v->last_insert_id, b->set, sizeof b->set);
    const char *steps[] = {b->set, variables, user_variables, b->init_db ? NULL : b->use};
    bool ran = false; /* a statement that leaves ROW_COUNT() at 0 (FOUND_ROWS() kept) runs */
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (steps[i] && *steps[i])
            pipe_add(p, steps[i]), ran = true;
    ran = ran || b->init_db;
    pipeline *last = b->init_db ? after : p;
    if (rows_last) {
        found_rows_sql(h, v->found_rows, b->last_rows, sizeof b->last_rows);
        pipe_add(last, b->last_rows);
    } else if (diagnostics && !ran) {
        pipe_add(last, "DO 0"); /* ROW_COUNT() 0, the rest kept */
    }
}

/* Replays on H what the husk WAS and what V says of its session (see build_replay: -1 after a
 * result set, else 0: a row-changing statement's count cannot be made again, README limits),
 * pipelined: one round trip, two more only for a database USE cannot name. Every answer is
 * read; the first failure decides. COST counts them. */
static enum ps_replay replay_session(MYSQL *h, const husk_view *was, const ps_replay_values *v,
                                     const char *variables, const char *user_variables,
                                     replay_cost *cost)
{
    replay_text b;
    pipeline p = {.n = 0}, after = {.n = 0};
    if (!database_step(h, was->db, b.use, sizeof b.use, &b.init_db))
        return PS_REPLAY_REFUSED;
    build_replay(h, was, v, variables, user_variables, &b, &p, &after);
    /* the library must not reconnect the handle by itself in the middle of the pipeline (the
     * program's MYSQL_OPT_RECONNECT): the answers would be read on another connection */
    my_bool reconnect = h->options.reconnect;
    h->options.reconnect = 0;
    enum ps_replay r = run_pipeline(h, &p, cost);
    if (r == PS_REPLAY_DONE && b.init_db)
        r = select_db(h, was->db, cost);
    if (r == PS_REPLAY_DONE)
        r = run_pipeline(h, &after, cost);
    h->options.reconnect = reconnect;
    if (r != PS_REPLAY_DONE)
        return r;
    if (was->charset)
        h->charset = was->charset;
    if (*b.use && !b.init_db) { /* as mysql_select_db keeps it (the tracker may be off) */
        char *db = strdup(was->db);
        if (db) {
            free(h->db);
            h->db = db;
        }
    }
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

enum ps_replay mdb_renew(void *hv, ps_conn *c, const ps_replay_values *v, const char *variables,
                         const char *user_variables)
{
    MYSQL *h = hv;
    husk_view was = {h->db ? strdup(h->db) : NULL, h->charset, h->server_status, h->insert_id,
                     false};
    bool copied = !h->db || was.db; /* else out of memory: the database is unknown */
    mdb_adopt(h, c);
    mdb_retrack(h);
    was.session_autocommit = ((const mdb_facts *)c->facts)->autocommit;
    c->sync_pending = false; /* the replay sets the husk's mode whenever the session's differs */
    enum ps_replay r = PS_REPLAY_REFUSED;
    replay_cost cost = {0, 0};
    if (copied)
        r = replay_session(h, &was, v, variables, user_variables, &cost);
    else
        mdb_fail(h, PS_FAIL_GONE, NULL);
    ps_debug(NULL, "replayed the session of handle %p: %u statement(s) in %u round trip(s): %s",
             (void *)h, cost.statements, cost.round_trips,
             r == PS_REPLAY_DONE   ? "done"
             : r == PS_REPLAY_LOST ? "lost"
                                   : "refused");
    if (r != PS_REPLAY_DONE)
        show_husk_view(h, &was);
    free(was.db);
    return r;
}

bool mdb_reconnects(void *hv)
{
    return ((MYSQL *)hv)->options.reconnect != 0;
}
