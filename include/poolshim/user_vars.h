/* The user variables a lease's program set to literals (SET @a = 1, @b = 'x'): the last text
 * assigned to each name, as written, so that a new connection gets them again (README "The
 * session model"). Owned by one lease; touched only by the thread in a call on it, or by the
 * thread that moves it (reap, renewal, fork take-over). */
#ifndef POOLSHIM_USER_VARS_H
#define POOLSHIM_USER_VARS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ps_user_vars ps_user_vars;

/* Records in *V (made at first use) the literal assignments of statement SQL[0..LEN), whose
 * effects have PS_SQL_USER_VARIABLES. False when they cannot be kept — not all literal (see
 * ps_sql_user_literals), more than 64 names or 4 KiB of text, a value bound to the session's
 * character set after the program's own reset turned the shim's tracking off, out of memory —
 * and the session must then pin (*V may then hold only part of them). */
bool ps_user_vars_assign(ps_user_vars **v, const char *sql, size_t len);

/* False when the session variables the server reported changed (VARIABLES, see
 * ps_call_outcome.variables; "": some unknown) may change how a value of V was read (a
 * character set or collation of the connection, sql_mode): the session must then pin. True
 * for NULL V. */
bool ps_user_vars_still_exact(const ps_user_vars *v, const char *variables);

/* The program reset its session (every user variable gone): *V forgets every value, and
 * remembers that the shim's tracking is now off (see ps_user_vars_assign). */
void ps_user_vars_reset(ps_user_vars **v);

/* The statement that sets every kept variable again ("SET @a = 1, @b = 'x'", owned by V, valid
 * until V changes); NULL when none (or V is NULL, or out of memory: then *LOST is set). */
const char *ps_user_vars_statement(ps_user_vars *v, bool *lost);

/* Frees V (NULL allowed). */
void ps_user_vars_free(ps_user_vars *v);

#endif
