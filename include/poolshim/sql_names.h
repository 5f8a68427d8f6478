/* What calling a name followed by '(' does to a session, for the statement classifier
 * (sql_effects.c). A call is provably harmless only when the server resolves the name to one of
 * its own functions or grammar words: an unknown name, a quoted one (`now`()) or a qualified one
 * (db.f()) may be a stored function, which can set user variables or take GET_LOCK. Keyword-
 * parsed functions (COUNT, NOW, SUBSTRING, ...) are builtins only with '(' right after the name:
 * "now ()", or a comment between the name and '(', calls a stored function t.now (measured on
 * MariaDB 10.11; the classifier integration test checks every name here against the server). */
#ifndef POOLSHIM_SQL_NAMES_H
#define POOLSHIM_SQL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

enum ps_sql_call {
    PS_CALL_UNKNOWN,   /* not provably a builtin: may run a stored function */
    PS_CALL_HARMLESS,  /* a builtin function or grammar word that leaves nothing behind */
    PS_CALL_LOCK,      /* GET_LOCK: a lock that lives until released or the session ends */
    PS_CALL_SESSION,   /* NEXTVAL, SETVAL, LASTVAL: the session's sequence values */
    PS_CALL_INSERT_ID, /* LAST_INSERT_ID: sets the session's value when given an argument */
};

/* What calling the bare (unquoted, unqualified) name NAME[0..N), case-insensitive, does.
 * GLUED: '(' follows the name with nothing in between. */
enum ps_sql_call ps_sql_call_kind(const char *name, size_t n, bool glued);

/* For tests: the I-th name the table knows, in order (NULL past the end); *KIND its kind and
 * *GLUED_ONLY whether it is a builtin only with '(' right after it. */
const char *ps_sql_known_name(size_t i, enum ps_sql_call *kind, bool *glued_only);

#endif
