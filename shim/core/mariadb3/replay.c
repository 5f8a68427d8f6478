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
 * for every replayed variable in the list's order; false when it does not fit in SQL (N
 * bytes). */
static bool values_query(char *sql, size_t n, bool variables)
{
    size_t len = (size_t)snprintf(sql, n, "SELECT LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT()");
    for (const char *const *v = ps_sql_replayed_variables; variables && *v && len < n; v++)
        len += (size_t)snprintf(sql + len, n - len, ", @@session.%s", *v);
    return len < n;
}

/* True when VALUE can stand between single quotes under any sql_mode: printable ASCII without a
 * quote or a backslash. */
static bool plain_text(const char *value)
{
    for (const char *p = value; *p; p++)
        if (*p == '\\' || *p == '\'' || *p == '"' || (unsigned char)*p < 0x20 ||
            (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

bool mdb_append_assignment(char *out, size_t n, const char *name, const char *value)
{
    bool number = value && *value && strspn(value, "0123456789.") == strlen(value);
    size_t len = strlen(out);
    const char *sep = len > 4 ? ", " : "";
    int w;
    if (!value || number || plain_text(value)) {
        const char *q = number || !value ? "" : "'";
        w = snprintf(out + len, n - len, "%s%s = %s%s%s", sep, name, q, value ? value : "NULL", q);
        return w > 0 && (size_t)w < n - len;
    }
    w = snprintf(out + len, n - len, "%s%s = X'", sep, name);
    if (w <= 0 || (size_t)w + 2 * strlen(value) + 2 > n - len)
        return false;
    len += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++, len += 2)
        snprintf(out + len, 3, "%02X", *p);
    strcpy(out + len, "'");
    return true;
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
    return mdb_server_error(h->net.last_errno) ? PS_REPLAY_REFUSED : PS_REPLAY_LOST;
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
        return mdb_run_discarding(h, sql);
    }
    unsigned long long inner = f < 1000 ? f : 1000, outer = (f + inner - 1) / inner;
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE ps_n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM ps_n WHERE i < %llu) "
             "SELECT SQL_CALC_FOUND_ROWS 1 FROM ps_n a JOIN ps_n b "
             "WHERE a.i <= %llu AND (a.i - 1) * %llu + b.i <= %llu LIMIT 0",
             inner, outer, inner, f);
    return mdb_run_discarding(h, sql);
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
        mdb_set_separator(sql, sizeof sql);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "NAMES '%s' COLLATE '%s'", cs->csname,
                 cs->name);
    }
    if (id) {
        mdb_set_separator(sql, sizeof sql);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "last_insert_id=%llu", id);
    }
    if (strcmp(sql, "SET ")) {
        *ran = true;
        if (!mdb_run_discarding(h, sql))
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
 * USER_VARIABLES (a SET of literals; NULL: none), the database, and, when V knows them,
 * FOUND_ROWS() and ROW_COUNT() as the program's last statement left them (-1 after a result set,
 * else 0: a row-changing statement's count cannot be made again, README limits). Stops at the first
 * step that fails. */
static enum ps_replay replay_session(MYSQL *h, const husk_view *was, const ps_replay_values *v,
                                     const char *variables, const char *user_variables)
{
    bool diagnostics = v->diagnostics_known, rows_last = diagnostics && v->row_count == -1;
    bool ran = false; /* a statement that leaves ROW_COUNT() at 0 ran */
    if (diagnostics && !rows_last && !replay_found_rows(h, v->found_rows))
        return step_outcome(h, false);
    if (!replay_variables(h, was, v->last_insert_id, &ran))
        return step_outcome(h, false);
    if (variables) { /* a SET: FOUND_ROWS() kept, ROW_COUNT() 0 */
        ran = true;
        if (!mdb_run_discarding(h, variables))
            return step_outcome(h, false);
    }
    if (user_variables) { /* after the charsets their strings are read in */
        ran = true;
        if (!mdb_run_discarding(h, user_variables))
            return step_outcome(h, false);
    }
    enum ps_replay r = replay_database(h, was->db, &ran);
    if (r != PS_REPLAY_DONE)
        return r;
    if (rows_last)
        return step_outcome(h, replay_found_rows(h, v->found_rows));
    if (diagnostics && !ran)
        return step_outcome(h, mdb_run_discarding(h, "DO 0")); /* ROW_COUNT() 0, the rest kept */
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
    husk_view was = {h->db ? strdup(h->db) : NULL, h->charset, h->server_status, h->insert_id};
    bool copied = !h->db || was.db; /* else out of memory: the database is unknown */
    mdb_adopt(h, c);
    mdb_retrack(h);
    enum ps_replay r = PS_REPLAY_REFUSED;
    if (copied)
        r = replay_session(h, &was, v, variables, user_variables);
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
