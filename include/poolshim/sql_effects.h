/* What a statement can leave behind in its session, judged from its text alone. Used to decide
 * whether a leased connection may be reclaimed (reaped) while its handle is idle. The judgement
 * is conservative: anything not proven harmless counts as session state. The text cannot show
 * what triggers, views and column defaults run on the server; the client layer adds what the
 * server reports (see mdb_state_change_effects in shim/core/mariadb3/). */
#ifndef POOLSHIM_SQL_EFFECTS_H
#define POOLSHIM_SQL_EFFECTS_H

#include <stdbool.h>
#include <stddef.h>

enum ps_sql_effect {
    /* SET autocommit, SET NAMES, SET CHARACTER SET, USE: state the shim reads client-side and
     * replays on a new connection. */
    PS_SQL_REPLAYABLE = 1u << 0,
    /* State the shim cannot replay, or cannot rule out: user variables, temporary tables, SQL
     * PREPARE, other session variables, HANDLER, sequences, stored procedures and functions
     * (any call of a name not proven a builtin), XA, unknown statements, text whose quoting
     * depends on the character set. */
    PS_SQL_SESSION = 1u << 1,
    /* Locks nothing signals: LOCK TABLES, GET_LOCK, FLUSH ... WITH READ LOCK, FLUSH TABLES ...
     * FOR EXPORT, BACKUP STAGE / BACKUP LOCK, LOCK IN SHARE MODE. */
    PS_SQL_LOCK = 1u << 2,
    /* SQL_CALC_FOUND_ROWS: the next statement's FOUND_ROWS() needs this very session. */
    PS_SQL_FOUND_ROWS = 1u << 3,
    /* The bits below mark state COM_RESET_CONNECTION leaves behind (README "What the reset
     * covers"); each comes with PS_SQL_SESSION. */
    /* May change the current role: SET ROLE, and CALL / EXECUTE, which can run it unseen. */
    PS_SQL_ROLE = 1u << 4,
    /* SET DEFAULT ROLE: the account's default role, which only a new login takes up. */
    PS_SQL_DEFAULT_ROLE = 1u << 5,
    /* SET profiling / profiling_history_size: SHOW PROFILES' history, which no reset clears. */
    PS_SQL_PROFILING = 1u << 6,
    /* The server-side options of the connection (COM_SET_OPTION: multi-statements). Never
     * from statement text: the client layer sets it for that command. */
    PS_SQL_SERVER_OPTION = 1u << 7,
    /* Comes with PS_SQL_REPLAYABLE: a SET of session variables of ps_sql_replayed_variables to
     * literal values, which the shim reads back when it reaps the handle and sets again on the
     * new connection (drivers' connect-time SETs: DBD::MariaDB sets character_set_server and
     * collation_connection). */
    PS_SQL_VARIABLES = 1u << 8,
    /* The session now shows something a fresh session would not, though nothing a reap needs
     * to replay: the last statement's ROW_COUNT(), a generated LAST_INSERT_ID(), warnings or
     * an error in the diagnostics area, a binary-protocol statement, the program's own reset
     * (which also turns the shim's state-change tracking off), a renewal's replay. Never from
     * statement text: the client layer sets it from what it saw (OK packets, errors, warning
     * counts, commands). A lease without it and without any other bit returns its connection
     * without a reset (README "Clean return"). */
    PS_SQL_RESULTS = 1u << 9,
    /* Comes with PS_SQL_VARIABLES: a value the server's tracker does not report (the collation
     * of SET NAMES ... COLLATE), so only a read-back gives it: a forked child, which keeps
     * the values the tracker reported, cannot replay it. */
    PS_SQL_READ_BACK = 1u << 10,
    /* Comes with PS_SQL_REPLAYABLE: a SET of user variables to literals only (SET @a = 1,
     * @b = _latin1 'x' COLLATE latin1_bin, @c = X'00', @d = NULL...), which the shim keeps as
     * written (ps_sql_user_literals) and runs again on a new connection. Never with a
     * backslash, a comment or a multi-byte ambiguity anywhere in the text (each could make the
     * server read other assignments than the classifier's: the text then pins). */
    PS_SQL_USER_VARIABLES = 1u << 11,
};

/* The bits of a statement the shim can give back on a new connection. */
#define PS_SQL_REPLAYED                                                                            \
    (PS_SQL_REPLAYABLE | PS_SQL_VARIABLES | PS_SQL_READ_BACK | PS_SQL_USER_VARIABLES)

/* The session variables a replayable SET may change (lower case, NULL-terminated), in the order
 * they must be set again: character sets before the collations they reset. Each takes a value
 * as it reads back (@@session.name), needs no privilege, and has no effect beyond its value. */
extern const char *const ps_sql_replayed_variables[];

/* The effects whose state outlives COM_RESET_CONNECTION (and the program's own reset). */
#define PS_SQL_RESET_KEEPS                                                                         \
    (PS_SQL_ROLE | PS_SQL_DEFAULT_ROLE | PS_SQL_PROFILING | PS_SQL_SERVER_OPTION)

/* The OR of the effects of every statement in SQL[0..LEN) (multi-statements included), under
 * every quoting rule the session's sql_mode may impose (backslash escapes or not, "..." as a
 * string or an identifier); 0 for statements that leave nothing (SELECT of builtins, INSERT,
 * COMMIT, DDL...). Never reads past LEN. */
unsigned ps_sql_effects(const char *sql, size_t len);

/* ps_sql_effects, and in *ONLY_REPLAYABLE whether SQL holds at least one statement and every
 * one is a replayable one (the result then has no bit outside PS_SQL_REPLAYED): a session-state
 * change the server reports after such a command is the one its text shows. */
unsigned ps_sql_effects_ex(const char *sql, size_t len, bool *only_replayable);

/* ps_sql_effects_ex without its fast path for plain SELECTs (every statement through the full
 * classifier): for the fuzzer, which checks that the fast path never says 0 where this does
 * not. */
unsigned ps_sql_effects_full(const char *sql, size_t len, bool *only_replayable);

/* One literal assignment of a user variable: NAME[0..NAME_LEN) its name as written (an unquoted
 * word, without the '@'), TEXT[0..TEXT_LEN) the whole assignment as written ("@a = 'x'");
 * CHARSET_BOUND when the value is a string whose character set, collation or reading depends
 * on the session (character_set_client/connection, collation_connection, sql_mode) at the time
 * it runs. */
typedef struct ps_sql_literal {
    const char *name;
    size_t name_len;
    const char *text;
    size_t text_len;
    bool charset_bound;
} ps_sql_literal;

/* Calls EACH(CTX, A) for every user-variable assignment of SQL[0..LEN), in order, when the text's
 * effects are those of replayable statements with PS_SQL_USER_VARIABLES (and harmless ones);
 * false (EACH maybe called for some) when SQL holds a user-variable assignment that is not
 * such a literal one. Never reads past LEN. */
bool ps_sql_user_literals(const char *sql, size_t len,
                          void (*each)(void *ctx, const ps_sql_literal *a), void *ctx);

/* A short human-readable reason for the most important bit of EFFECTS ("" for 0). */
const char *ps_sql_effect_reason(unsigned effects);

#endif
