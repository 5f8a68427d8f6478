/* What a statement can leave behind in its session, judged from its text alone. Used to decide
 * whether a leased connection may be reclaimed (reaped) while its handle is idle. The judgement
 * is conservative: anything not known to be harmless counts as session state. */
#ifndef POOLSHIM_SQL_EFFECTS_H
#define POOLSHIM_SQL_EFFECTS_H

#include <stddef.h>

enum ps_sql_effect {
    /* SET autocommit, SET NAMES, SET CHARACTER SET, USE: state the shim reads client-side and
     * replays on a new connection. */
    PS_SQL_REPLAYABLE = 1u << 0,
    /* State the shim cannot replay: user variables, temporary tables, SQL PREPARE, other
     * session variables, HANDLER, sequences, stored procedures, XA, unknown statements. */
    PS_SQL_SESSION = 1u << 1,
    /* Locks nothing signals: LOCK TABLES, GET_LOCK, FLUSH ... WITH READ LOCK, LOCK IN SHARE
     * MODE. */
    PS_SQL_LOCK = 1u << 2,
    /* SQL_CALC_FOUND_ROWS: the next statement's FOUND_ROWS() needs this very session. */
    PS_SQL_FOUND_ROWS = 1u << 3,
};

/* The OR of the effects of every statement in SQL[0..LEN) (multi-statements included);
 * 0 for statements that leave nothing (SELECT, INSERT, COMMIT, DDL...). Never reads past LEN. */
unsigned ps_sql_effects(const char *sql, size_t len);

/* A short human-readable reason for the most important bit of EFFECTS ("" for 0). */
const char *ps_sql_effect_reason(unsigned effects);

#endif
