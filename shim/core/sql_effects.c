/* The statement classifier (see sql_effects.h), on the lexer of sql_lex.h. It errs towards
 * keeping a handle: whatever it cannot prove harmless counts as session state.
 *  - Quoting depends on the session's sql_mode, which the text does not show: text with a
 *    backslash inside quotes is lexed once per rule the server may apply (sql_lex.h) and the
 *    verdicts are ORed; "..." followed by '(' is a call under either reading.
 *  - Text whose quoting depends on a multi-byte character set counts as session state.
 *  - Calls: only names the server resolves to its own functions are harmless (sql_names.h); an
 *    unknown, quoted or qualified name followed by '(' may run a stored function. */
#include "poolshim/sql_effects.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "poolshim/sql_lex.h"
#include "poolshim/sql_names.h"

/* True when T is the word W (case-insensitive). The first bytes are compared first, ignoring
 * only the ASCII case bit: a cheap filter (the classifier tries every word against its tables)
 * that never rejects a match. */
static bool is_word(const ps_token *t, const char *w)
{
    if (t->kind != PS_TOK_WORD || t->n == 0 || ((unsigned char)(t->s[0] ^ w[0]) & ~0x20u))
        return false; /* n 0: a quoted name's empty content, S may be the text's end */
    return strlen(w) == t->n && !strncasecmp(t->s, w, t->n);
}

/* True when T is one of the NULL-terminated WORDS. */
static bool is_any(const ps_token *t, const char *const *words)
{
    for (; *words; words++)
        if (is_word(t, *words))
            return true;
    return false;
}

/* True when T is the punctuation character C. */
static bool is_punct(const ps_token *t, char c)
{
    return t->kind == PS_TOK_PUNCT && *t->s == c;
}

/* True when T can name a function, table or column. */
static bool is_name(const ps_token *t)
{
    return t->kind == PS_TOK_WORD || t->kind == PS_TOK_QUOTED_ID || t->kind == PS_TOK_DQUOTED;
}

/* True when T ends a statement. */
static bool ends(const ps_token *t)
{
    return t->kind == PS_TOK_END || t->kind == PS_TOK_SEMI;
}

/* The name T spells into *S, *N: a word as written, a quoted run without its quotes. */
static void name_of(const ps_token *t, const char **s, size_t *n)
{
    *s = t->s;
    *n = t->n;
    if (t->kind == PS_TOK_WORD || t->n == 0)
        return;
    bool closed = t->n >= 2 && t->s[t->n - 1] == t->s[0];
    *s = t->s + 1;
    *n = t->n - (closed ? 2 : 1);
}

/* ---- SET ---------------------------------------------------------------------------------- */

/* Values SET autocommit accepts that the shim can replay. */
static const char *const bool_words[] = {"0", "1", "ON", "OFF", "TRUE", "FALSE", NULL};

/* Reads a charset or collation name at T (a word or a quoted name); false when it is not one. */
static bool charset_name(ps_lexer *lx, ps_token *t)
{
    if (t->kind != PS_TOK_WORD && t->kind != PS_TOK_STRING && t->kind != PS_TOK_DQUOTED &&
        t->kind != PS_TOK_QUOTED_ID)
        return false;
    *t = ps_lex_next(lx);
    return true;
}

const char *const ps_sql_replayed_variables[] = {"character_set_client",
                                                 "character_set_connection",
                                                 "character_set_results",
                                                 "character_set_server",
                                                 "collation_connection",
                                                 "collation_server",
                                                 "sql_mode",
                                                 "time_zone",
                                                 "lc_time_names",
                                                 "tx_isolation",
                                                 "tx_read_only",
                                                 "sql_auto_is_null",
                                                 "sql_safe_updates",
                                                 "sql_select_limit",
                                                 "foreign_key_checks",
                                                 "unique_checks",
                                                 "wait_timeout",
                                                 "interactive_timeout",
                                                 "net_read_timeout",
                                                 "net_write_timeout",
                                                 "max_statement_time",
                                                 "group_concat_max_len",
                                                 "div_precision_increment",
                                                 "innodb_lock_wait_timeout",
                                                 "lock_wait_timeout",
                                                 NULL};

/* True when T is a word of digits only. */
static bool is_digits(const ps_token *t)
{
    if (t->kind != PS_TOK_WORD)
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (!isdigit((unsigned char)t->s[i]))
            return false;
    return true;
}

/* Reads, at *T, the '=' or ':=' of an assignment and a literal after it: a quoted string, a
 * word (ON, DEFAULT, NULL, a name, a number) or a decimal number, optionally negative; nothing
 * that reads or calls anything. False when it is not that. On success *T is the next token. */
static bool literal_value(ps_lexer *lx, ps_token *t)
{
    if (is_punct(t, ':'))
        *t = ps_lex_next(lx);
    if (!is_punct(t, '='))
        return false;
    *t = ps_lex_next(lx);
    if (is_punct(t, '-'))
        *t = ps_lex_next(lx);
    if (t->kind == PS_TOK_STRING || t->kind == PS_TOK_DQUOTED) {
        *t = ps_lex_next(lx);
        return true;
    }
    if (t->kind != PS_TOK_WORD)
        return false;
    bool digits = is_digits(t);
    *t = ps_lex_next(lx);
    if (digits && is_punct(t, '.')) {
        *t = ps_lex_next(lx);
        if (!is_digits(t))
            return false;
        *t = ps_lex_next(lx);
    }
    return !is_punct(t, '(');
}

/* ---- user variables set to literals ------------------------------------------------------- */

/* Where replayable_set reports the literal assignments of user variables it reads. */
typedef struct literal_sink {
    void (*each)(void *ctx, const ps_sql_literal *a);
    void *ctx;
} literal_sink;

/* Words that are literals. */
static const char *const literal_words[] = {"NULL", "TRUE", "FALSE", NULL};

/* The length of the run of characters of SET at P (E: the text's end). */
static size_t run_of(const char *p, const char *e, const char *set)
{
    const char *q = p;
    while (q < e && *q && strchr(set, *q))
        q++;
    return (size_t)(q - p);
}

/* The length of the number literal at S (E: the text's end), glued sign included: [+-]digits
 * [.digits][(e|E)[+-]digits], 0x hex digits, 0b bits; 0 when S starts none, or when a word
 * character, '.', a quote or '@' follows it. */
static size_t number_len(const char *s, const char *e)
{
    static const char digits[] = "0123456789";
    const char *p = s + (s < e && (*s == '-' || *s == '+'));
    if (e - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'b')) {
        size_t n = run_of(p + 2, e, p[1] == 'x' ? "0123456789abcdefABCDEF" : "01");
        p = n ? p + 2 + n : s;
    } else {
        size_t n = run_of(p, e, digits);
        p = n ? p + n : s;
        if (n && p < e && *p == '.')
            p += 1 + run_of(p + 1, e, digits);
        if (n && p < e && (*p == 'e' || *p == 'E')) {
            const char *x = p + 1 + (p + 1 < e && (p[1] == '-' || p[1] == '+'));
            size_t m = run_of(x, e, digits);
            p = m ? x + m : s;
        }
    }
    if (p == s || (p < e && (ps_lex_word_char(*p) || strchr(".'\"`@", *p))))
        return 0;
    return (size_t)(p - s);
}

/* Reads at *T a string literal: [_charset] '...' [COLLATE name], or X'...' / B'...'; *BOUND
 * when its value depends on the session's character sets or sql_mode (all but X'' and B'').
 * On success *T is the token after it. */
static bool string_literal(ps_lexer *lx, ps_token *t, bool *bound)
{
    bool intro = t->kind == PS_TOK_WORD && t->n > 1 && t->s[0] == '_';
    bool hex = t->kind == PS_TOK_WORD && t->n == 1 && strchr("xXbB", t->s[0]);
    if (intro || hex) {
        const char *after = t->s + t->n;
        *t = ps_lex_next(lx);
        if (hex && t->s != after)
            return false;
    }
    if (t->kind != PS_TOK_STRING) /* unclosed: the server refuses it, and the error pins */
        return false;
    *bound = !hex;
    *t = ps_lex_next(lx);
    if (!hex && is_word(t, "COLLATE")) {
        *t = ps_lex_next(lx);
        if (t->kind != PS_TOK_WORD)
            return false;
        *t = ps_lex_next(lx);
    }
    return true;
}

/* Reads at *T (after '=') a literal: a word of literal_words, a number, a string; *BOUND as
 * string_literal says. On success *T is the token after it. */
static bool literal(ps_lexer *lx, ps_token *t, bool *bound)
{
    *bound = false;
    if (is_any(t, literal_words)) {
        *t = ps_lex_next(lx);
        return true;
    }
    size_t n = number_len(t->s, lx->end);
    if (!n)
        return string_literal(lx, t, bound);
    const char *end = t->s + n;
    while (t->kind != PS_TOK_END && t->s < end) /* its tokens are contiguous */
        *t = ps_lex_next(lx);
    return true;
}

/* Reads at *T (an '@') the assignment of a literal to a user variable of an unquoted name:
 * @name = literal or @name := literal, reported to SINK (NULL: nobody). On success *T is the
 * token after it. */
static bool user_assignment(ps_lexer *lx, ps_token *t, const literal_sink *sink)
{
    ps_sql_literal a = {.text = t->s};
    ps_token name = ps_lex_next(lx);
    if (name.kind != PS_TOK_WORD || name.s != t->s + 1)
        return false;
    *t = ps_lex_next(lx);
    if (is_punct(t, ':')) {
        const char *colon = t->s;
        *t = ps_lex_next(lx);
        if (t->s != colon + 1)
            return false; /* ": =" is not ":=" */
    }
    if (!is_punct(t, '='))
        return false;
    *t = ps_lex_next(lx);
    if (!literal(lx, t, &a.charset_bound))
        return false;
    a.name = name.s;
    a.name_len = name.n;
    const char *end = t->s; /* back over white space: the text holds no comment */
    while (end > a.text && isspace((unsigned char)end[-1]))
        end--;
    a.text_len = (size_t)(end - a.text);
    if (sink)
        sink->each(sink->ctx, &a);
    return true;
}

/* True when the assignments the classifier reads in SQL[0..LEN) are the server's under every
 * sql_mode and character set: no backslash (escapes), no comment ('/' '*' opens version-
 * dependent code, "--" and '#' end lines). Else a user variable's assignment pins. */
static bool literals_exact(const char *sql, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = sql[i], next = i + 1 < len ? sql[i + 1] : '\0';
        if (c == '\\' || c == '#' || (c == '/' && next == '*') || (c == '-' && next == '-'))
            return false;
    }
    return true;
}

/* Reads, at *T, the '=' or ':=' of an assignment and an expression after it that leaves nothing
 * in the session (builtin calls, @@variables, literals, operators: no user variable, no query,
 * no stored function); false when it is not that. On success *T is the token after it. */
static bool expression_value(ps_lexer *lx, ps_token *t);

/* Reads, at *T (the TRANSACTION of SET SESSION TRANSACTION), its characteristics: ISOLATION
 * LEVEL REPEATABLE READ | READ COMMITTED | READ UNCOMMITTED | SERIALIZABLE, READ ONLY, READ
 * WRITE, separated by commas. False when it is anything else. On success *T is the token after
 * them (the statement's end). */
static bool transaction_characteristics(ps_lexer *lx, ps_token *t)
{
    static const char *const levels[] = {"COMMITTED", "UNCOMMITTED", NULL};
    static const char *const access[] = {"ONLY", "WRITE", NULL};
    do {
        *t = ps_lex_next(lx);
        if (is_word(t, "ISOLATION")) {
            *t = ps_lex_next(lx);
            if (!is_word(t, "LEVEL"))
                return false;
            *t = ps_lex_next(lx);
            if (is_word(t, "REPEATABLE") || is_word(t, "READ")) {
                bool repeatable = is_word(t, "REPEATABLE");
                *t = ps_lex_next(lx);
                if (repeatable ? !is_word(t, "READ") : !is_any(t, levels))
                    return false;
            } else if (!is_word(t, "SERIALIZABLE")) {
                return false;
            }
        } else if (is_word(t, "READ")) {
            *t = ps_lex_next(lx);
            if (!is_any(t, access))
                return false;
        } else {
            return false;
        }
        *t = ps_lex_next(lx);
    } while (is_punct(t, ','));
    return ends(t);
}

/* Reads one replayable assignment starting at *T: @name = literal (user_assignment: adds
 * PS_SQL_USER_VARIABLES to *VARIABLE, reported to SINK), [@@][SESSION.|LOCAL ]autocommit = bool,
 * the same of a variable of ps_sql_replayed_variables with a literal value or an expression that
 * leaves nothing, SESSION TRANSACTION characteristics (those two add PS_SQL_VARIABLES to
 * *VARIABLE), NAMES cs [COLLATE coll] (COLLATE adds PS_SQL_VARIABLES | PS_SQL_READ_BACK),
 * CHARACTER SET cs, CHARSET cs. False when it is anything else. On success *T is the ps_token
 * after it. */
static bool replayable_assignment(ps_lexer *lx, ps_token *t, unsigned *variable,
                                  const literal_sink *sink)
{
    bool session_scope = false;
    if (t->kind == PS_TOK_AT) {
        *variable |= PS_SQL_USER_VARIABLES;
        return user_assignment(lx, t, sink);
    }
    if (t->kind == PS_TOK_ATAT)
        *t = ps_lex_next(lx);
    if (is_word(t, "SESSION") || is_word(t, "LOCAL")) {
        session_scope = t->kind == PS_TOK_WORD && is_word(t, "SESSION");
        *t = ps_lex_next(lx);
        if (is_punct(t, '.'))
            *t = ps_lex_next(lx);
    }
    if (is_word(t, "autocommit")) {
        *t = ps_lex_next(lx);
        if (is_punct(t, ':'))
            *t = ps_lex_next(lx);
        if (!is_punct(t, '='))
            return false;
        *t = ps_lex_next(lx);
        if (!is_any(t, bool_words))
            return false;
        *t = ps_lex_next(lx);
        return true;
    }
    if (is_any(t, ps_sql_replayed_variables)) {
        *t = ps_lex_next(lx);
        *variable |= PS_SQL_VARIABLES;
        ps_lexer before = *lx;
        ps_token at = *t;
        if (literal_value(lx, t))
            return true;
        *lx = before; /* not a literal: an expression that leaves nothing (read back by value) */
        *t = at;
        return expression_value(lx, t);
    }
    if (is_word(t, "TRANSACTION") && session_scope) {
        *variable |= PS_SQL_VARIABLES; /* tx_isolation, tx_read_only */
        return transaction_characteristics(lx, t);
    }
    bool names = is_word(t, "NAMES");
    if (!names && !is_word(t, "CHARSET") &&
        !(is_word(t, "CHARACTER") && (*t = ps_lex_next(lx), is_word(t, "SET"))))
        return false;
    *t = ps_lex_next(lx);
    if (!charset_name(lx, t))
        return false;
    if (names && is_word(t, "COLLATE")) {
        /* the client knows the charset, not the collation, nor does the tracker report it */
        *variable |= PS_SQL_VARIABLES | PS_SQL_READ_BACK;
        *t = ps_lex_next(lx);
        return charset_name(lx, t);
    }
    return true;
}

/* After the SET token: PS_SQL_REPLAYABLE (with PS_SQL_VARIABLES when it sets a variable of
 * ps_sql_replayed_variables, PS_SQL_USER_VARIABLES when it sets a user variable, reported to
 * SINK, NULL: nobody listens; and
 * PS_SQL_READ_BACK, see replayable_assignment) when the statement is
 * nothing but replayable assignments (then consumed up to its end), else 0 (the caller scans it
 * again). */
static unsigned replayable_set(ps_lexer *lx, const literal_sink *sink)
{
    ps_token t = ps_lex_next(lx);
    unsigned variable = 0;
    for (;;) {
        if (!replayable_assignment(lx, &t, &variable, sink))
            return 0;
        if (ends(&t))
            return PS_SQL_REPLAYABLE | variable;
        if (!is_punct(&t, ','))
            return 0;
        t = ps_lex_next(lx);
    }
}

/* ---- any other statement ------------------------------------------------------------------ */

/* How the statement's first word shapes the scan. */
enum stmt_kind { K_PLAIN, K_DDL, K_FLUSH, K_LOAD, K_BEGIN, K_SHOW };

/* Where an INSERT/REPLACE/LOAD's table (or a WITH's first CTE) name stands: before it (WAIT),
 * right after a part of it (NAME: a '(' here opens a column list, not a call), after a '.' in it
 * (DOT), past it (DONE). */
enum slot { SLOT_NONE, SLOT_WAIT, SLOT_NAME, SLOT_DOT, SLOT_DONE };

typedef struct stmt {
    unsigned effects;
    enum stmt_kind kind;
    enum slot slot;
    bool calls_run;     /* functions named here run now (DDL: only once a SELECT shows up) */
    bool grants;        /* GRANT/REVOKE: SELECT is a privilege there, never a query */
    bool insert_id_arg; /* after LAST_INSERT_ID(: the next token tells whether it sets it */
    bool qualified;     /* the current name run has a '.' (db.f) */
    unsigned char at;   /* a user variable's name: AT_NAME (one part follows), AT_AFTER */
    unsigned ntok;      /* tokens seen so far */
    ps_token prev;      /* the previous token */
    ps_token lead;      /* the token before the current name run */
} stmt;

/* Where a user variable's name stands in the statement: none pending, a part of it expected
 * (after '@' or a '.'), just past it (a ':' there assigns it: ":="). */
enum { AT_NONE, AT_NAME, AT_AFTER };

/* Statements that read or write data but leave no session state of their own. */
static const char *const harmless_first[] = {
    "SELECT",   "WITH",     "SHOW",      "DESCRIBE", "DESC",     "EXPLAIN", "VALUES", "TABLE",
    "HELP",     "INSERT",   "UPDATE",    "DELETE",   "REPLACE",  "LOAD",    "BEGIN",  "START",
    "COMMIT",   "ROLLBACK", "SAVEPOINT", "RELEASE",  "CREATE",   "ALTER",   "DROP",   "RENAME",
    "TRUNCATE", "ANALYZE",  "OPTIMIZE",  "CHECK",    "CHECKSUM", "REPAIR",  "GRANT",  "REVOKE",
    "UNLOCK",   "FLUSH",    "USE",       "SET",      NULL};

/* Statements whose calls do not run when they do (until a SELECT in them), and in which
 * 'user'@'host' names accounts. */
static const char *const ddl_first[] = {"CREATE",   "ALTER", "DROP",   "RENAME",
                                        "TRUNCATE", "GRANT", "REVOKE", NULL};

/* Statements that take locks which outlive them: LOCK TABLES, BACKUP STAGE / BACKUP LOCK. */
static const char *const lock_first[] = {"LOCK", "BACKUP", NULL};

/* Words that mark session state wherever they appear in a statement. */
static const char *const session_words[] = {"TEMPORARY", "NEXTVAL", "LASTVAL", "SETVAL",
                                            "PREVIOUS",  "NEXT",    NULL};

/* Tables of the session's own status counters, which a new session counts afresh: a program
 * that reads them keeps its session (quoted or not: the names are case-insensitive). */
static const char *const status_tables[] = {"SESSION_STATUS", "STATUS_BY_THREAD", NULL};

/* Words that may stand between INSERT/REPLACE/LOAD ... TABLE/WITH and the name. */
static const char *const slot_words[] = {"INTO",          "IGNORE",    "LOW_PRIORITY", "DELAYED",
                                         "HIGH_PRIORITY", "RECURSIVE", "TABLE",        NULL};

/* Sets up ST for a statement whose first token is FIRST. */
static void start_statement(stmt *st, const ps_token *first)
{
    if (is_word(first, "USE"))
        st->effects |= PS_SQL_REPLAYABLE;
    else if (is_any(first, lock_first))
        st->effects |= PS_SQL_LOCK;
    else if (!is_any(first, harmless_first) && first->kind != PS_TOK_PUNCT)
        st->effects |= PS_SQL_SESSION; /* CALL, DO, HANDLER, PREPARE, EXECUTE, XA, ... */
    if (is_word(first, "CALL") || is_word(first, "EXECUTE"))
        st->effects |= PS_SQL_ROLE; /* a procedure or prepared text can run SET ROLE */
    if (is_any(first, ddl_first)) {
        st->kind = K_DDL;
        st->calls_run = false;
        st->grants = is_word(first, "GRANT") || is_word(first, "REVOKE");
    } else if (is_word(first, "FLUSH")) {
        st->kind = K_FLUSH;
    } else if (is_word(first, "LOAD")) {
        st->kind = K_LOAD;
    } else if (is_word(first, "BEGIN")) {
        st->kind = K_BEGIN;
    } else if (is_word(first, "SHOW")) {
        st->kind = K_SHOW;
    } else if (is_word(first, "INSERT") || is_word(first, "REPLACE") || is_word(first, "WITH")) {
        st->slot = SLOT_WAIT;
    }
}

/* The effects word W marks wherever it stands; false when it marks none. */
static bool danger_word(stmt *st, const ps_token *w)
{
    if (is_word(w, "LOCK") || is_word(w, "GET_LOCK"))
        st->effects |= PS_SQL_LOCK;
    else if (is_word(w, "SQL_CALC_FOUND_ROWS"))
        st->effects |= PS_SQL_FOUND_ROWS;
    else if (is_any(w, session_words))
        st->effects |= PS_SQL_SESSION;
    else if (st->kind == K_FLUSH && is_word(w, "EXPORT"))
        st->effects |= PS_SQL_LOCK; /* FLUSH TABLES t FOR EXPORT */
    else
        return false;
    return true;
}

/* The effects of a word W anywhere in the statement, and what it tells about its shape. */
static void scan_word(stmt *st, const ps_token *w)
{
    if (danger_word(st, w))
        return;
    if (st->kind == K_DDL && !st->grants && is_word(w, "SELECT"))
        st->calls_run = true; /* CREATE TABLE ... SELECT */
    else if (st->kind == K_LOAD && is_word(w, "TABLE"))
        st->slot = SLOT_WAIT; /* LOAD DATA ... INTO TABLE t (col, ...) */
}

/* True when the '(' after ST's previous token is grammar, not a call of an unknown name: a
 * column list after the table name, MATCH (...) AGAINST (...), MEMBER OF (...), or a name in a
 * statement whose calls do not run. */
static bool not_a_call(const stmt *st)
{
    if (st->slot == SLOT_NAME || !st->calls_run)
        return true;
    return (is_word(&st->prev, "AGAINST") && is_punct(&st->lead, ')')) ||
           (is_word(&st->prev, "OF") && is_word(&st->lead, "MEMBER"));
}

/* The effects of a '(' after ST's previous token: a call when that is a name. */
static void scan_call(stmt *st)
{
    const ps_token *name = &st->prev;
    if (!is_name(name))
        return;
    const char *s;
    size_t n;
    name_of(name, &s, &n);
    bool bare = name->kind == PS_TOK_WORD && !st->qualified;
    if (name->kind != PS_TOK_WORD) { /* a quoted name marks what the bare word would */
        ps_token content = {PS_TOK_WORD, s, n, false};
        danger_word(st, &content);
    }
    enum ps_sql_call kind = ps_sql_call_kind(s, n, name->glued && bare);
    if (st->qualified || (!bare && kind == PS_CALL_HARMLESS))
        kind = PS_CALL_UNKNOWN; /* db.f(), `now`(): a stored function's name */
    if (!bare && kind == PS_CALL_INSERT_ID)
        st->effects |= PS_SQL_SESSION;
    if (kind == PS_CALL_UNKNOWN && !not_a_call(st))
        st->effects |= PS_SQL_SESSION;
    else if (kind == PS_CALL_LOCK)
        st->effects |= PS_SQL_LOCK | (bare ? 0 : PS_SQL_SESSION);
    else if (kind == PS_CALL_SESSION)
        st->effects |= PS_SQL_SESSION;
    else if (kind == PS_CALL_INSERT_ID)
        st->insert_id_arg = true; /* LAST_INSERT_ID(expr) sets the session's value */
}

/* True when the '@' token AT names an account ('app'@'%') in a DDL statement's text. */
static bool account_name(const stmt *st, const ps_token *at)
{
    return st->kind == K_DDL && !st->calls_run && st->ntok > 0 &&
           st->prev.s + st->prev.n == at->s &&
           (is_name(&st->prev) || st->prev.kind == PS_TOK_STRING);
}

/* Follows name runs (a.b.c) and the INSERT/REPLACE/LOAD/WITH name slot past token T. */
static void track_names(stmt *st, const ps_token *t)
{
    if (is_name(t)) {
        if (is_punct(&st->prev, '.') && st->ntok > 0) {
            st->qualified = true;
        } else {
            st->lead = st->prev;
            st->qualified = false;
        }
    }
    switch (st->slot) {
    case SLOT_WAIT:
        st->slot = is_any(t, slot_words) ? SLOT_WAIT : is_name(t) ? SLOT_NAME : SLOT_DONE;
        break;
    case SLOT_NAME:
        st->slot = is_punct(t, '.') ? SLOT_DOT : SLOT_DONE;
        break;
    case SLOT_DOT:
        st->slot = is_name(t) ? SLOT_NAME : SLOT_DONE;
        break;
    default:
        break;
    }
}

/* True when name T (a word or a quoted name) reads the session's status counters: one of
 * status_tables, or STATUS right after SHOW or SHOW SESSION / LOCAL (SHOW GLOBAL STATUS and
 * SHOW TABLE / SLAVE / ENGINE ... STATUS read no session counter). */
static bool reads_session_status(const stmt *st, const ps_token *t)
{
    if (!is_name(t))
        return false;
    const char *s;
    size_t n;
    name_of(t, &s, &n);
    ps_token content = {PS_TOK_WORD, s, n, false};
    if (is_any(&content, status_tables))
        return true;
    bool scope = is_word(&st->prev, "SESSION") || is_word(&st->prev, "LOCAL");
    return st->kind == K_SHOW && is_word(t, "STATUS") &&
           (st->ntok == 1 || (st->ntok == 2 && scope));
}

/* Follows a user variable's name at token T (ST->at is not AT_NONE): reading one leaves
 * nothing; ':=' after the name assigns it, and a name that is not one glued run of name parts
 * counts as session state. True when T was part of the name. */
static bool user_variable_token(stmt *st, const ps_token *t)
{
    bool glued = st->prev.s + st->prev.n == t->s;
    if (st->at == AT_NAME) {
        bool part = glued && (is_name(t) || t->kind == PS_TOK_STRING);
        st->at = part ? AT_AFTER : AT_NONE;
        if (!part)
            st->effects |= PS_SQL_SESSION;
        return part;
    }
    st->at = AT_NONE;
    if (is_punct(t, ':'))
        st->effects |= PS_SQL_SESSION; /* @a := ... */
    else if (is_punct(t, '.') && glued)
        st->at = AT_NAME; /* @a.b */
    return st->at == AT_NAME;
}

/* The effects of an '@' (not an account's) in ST: a read of a user variable unless it is
 * written there (SELECT ... INTO @a, LOAD DATA ... (@a); ":=" is found after the name). */
static void scan_user_variable(stmt *st)
{
    if (st->kind == K_LOAD || is_word(&st->prev, "INTO"))
        st->effects |= PS_SQL_SESSION;
    else
        st->at = AT_NAME;
}

/* The effects of token T of statement ST. */
static void scan_token(stmt *st, const ps_token *t)
{
    if (st->at != AT_NONE && user_variable_token(st, t)) {
        track_names(st, t);
        st->prev = *t;
        st->ntok++;
        return;
    }
    if (st->insert_id_arg) {
        st->insert_id_arg = false;
        if (!is_punct(t, ')'))
            st->effects |= PS_SQL_SESSION;
    }
    if (st->kind == K_BEGIN && st->ntok == 1 && !is_word(t, "WORK"))
        st->effects |= PS_SQL_SESSION; /* BEGIN NOT ATOMIC ... END: a compound statement */
    if (t->kind == PS_TOK_AT && !account_name(st, t))
        scan_user_variable(st);
    else if (reads_session_status(st, t))
        st->effects |= PS_SQL_SESSION;
    else if (t->kind == PS_TOK_WORD)
        scan_word(st, t);
    else if (is_punct(t, '('))
        scan_call(st);
    track_names(st, t);
    st->prev = *t;
    st->ntok++;
}

static bool expression_value(ps_lexer *lx, ps_token *t)
{
    if (is_punct(t, ':'))
        *t = ps_lex_next(lx);
    if (!is_punct(t, '='))
        return false;
    stmt st = {.calls_run = true};
    int depth = 0;
    unsigned n = 0;
    for (*t = ps_lex_next(lx); !ends(t) && !(depth == 0 && is_punct(t, ','));
         *t = ps_lex_next(lx)) {
        if (t->kind == PS_TOK_AT || is_word(t, "SELECT") || is_word(t, "WITH") ||
            is_word(t, "VALUES") || is_word(t, "TABLE"))
            return false; /* a user variable, a query */
        depth += is_punct(t, '(') - is_punct(t, ')');
        if (depth < 0)
            return false;
        scan_token(&st, t);
        n++;
    }
    return n > 0 && depth == 0 && st.effects == 0 && !st.insert_id_arg;
}

/* Classifies one statement whose first token is FIRST; consumes it up to ';' or the end. */
static unsigned scan_statement(ps_lexer *lx, ps_token first)
{
    stmt st = {.calls_run = true};
    scan_token(&st, &first);
    start_statement(&st, &first);
    for (ps_token t = ps_lex_next(lx); !ends(&t); t = ps_lex_next(lx))
        scan_token(&st, &t);
    if (st.insert_id_arg || st.at == AT_NAME)
        st.effects |= PS_SQL_SESSION; /* "LAST_INSERT_ID(" or "@" at the very end */
    return st.effects;
}

/* The bits of state COM_RESET_CONNECTION keeps that a SET statement (read from LX, a copy,
 * right after SET) may leave: SET ROLE, SET DEFAULT ROLE, profiling, and SET STATEMENT ... FOR
 * CALL/EXECUTE (which can run SET ROLE). */
static unsigned set_reset_keeps(ps_lexer lx)
{
    ps_token t = ps_lex_next(&lx);
    unsigned bits = 0;
    if (is_word(&t, "ROLE"))
        bits |= PS_SQL_ROLE;
    for (bool after_default = false; !ends(&t); t = ps_lex_next(&lx)) {
        if (after_default && is_word(&t, "ROLE"))
            bits |= PS_SQL_DEFAULT_ROLE;
        if (is_word(&t, "profiling") || is_word(&t, "profiling_history_size"))
            bits |= PS_SQL_PROFILING;
        if (is_word(&t, "CALL") || is_word(&t, "EXECUTE"))
            bits |= PS_SQL_ROLE;
        after_default = is_word(&t, "DEFAULT");
    }
    return bits;
}

/* Classifies one statement whose first token is FIRST (see scan_statement). */
static unsigned classify_statement(ps_lexer *lx, ps_token first)
{
    if (!is_word(&first, "SET"))
        return scan_statement(lx, first);
    ps_lexer after_set = *lx;
    unsigned replayed = replayable_set(lx, NULL);
    if (replayed)
        return replayed;
    unsigned seen = lx->backslashes;
    *lx = after_set;
    unsigned effects = PS_SQL_SESSION | set_reset_keeps(after_set) | scan_statement(lx, first);
    lx->backslashes |= seen;
    return effects;
}

/* ---- the passes --------------------------------------------------------------------------- */

/* One pass over SQL[0..LEN) applying ESCAPES (PS_ESC_* bits). *ONLY: at least one statement, and
 * every one replayable (PS_SQL_REPLAYABLE, with PS_SQL_VARIABLES or not). *BACKSLASHES: the runs a
 * backslash was read in. */
static unsigned one_pass(const char *sql, size_t len, unsigned escapes, bool *only,
                         unsigned *backslashes)
{
    ps_lexer lx = {sql, sql + len, escapes, 0, false};
    unsigned effects = 0;
    bool any = false, all = true;
    for (;;) {
        ps_token first = ps_lex_next(&lx);
        if (first.kind == PS_TOK_END)
            break;
        if (first.kind == PS_TOK_SEMI)
            continue;
        unsigned fx = classify_statement(&lx, first);
        any = true;
        all = all && (fx & PS_SQL_REPLAYABLE) && !(fx & ~PS_SQL_REPLAYED);
        effects |= fx;
    }
    *only = any && all;
    *backslashes = lx.backslashes;
    return effects;
}

/* What the fast path (plain_select) makes of each byte (ASCII only, no locale: the server's own
 * classes). PB_WORD and PB_HEAD are the word bytes; PB_HEAD the letters a stop word
 * (plain_stop_words) begins with, in either case: plain_skip passes over a word that begins
 * with any other byte without looking it up. */
enum { PB_STOP = 0, PB_OTHER, PB_SPACE, PB_WORD, PB_HEAD };
/* PB_STOP (0, the default): '@' (variables), '(' (calls), ';' (statements), '{' '}' (ODBC
 * escapes), '[' ']', '?', control bytes other than white space, and every byte >= 0x7f (the
 * character set decides what those are). The heads: E F G I L N P S T V. */
static const unsigned char plain_class[256] = {
    [' '] = PB_SPACE,        ['\t'] = PB_SPACE,       ['\n'] = PB_SPACE,
    ['\r'] = PB_SPACE,       ['\f'] = PB_SPACE,       ['\v'] = PB_SPACE,
    ['!'] = PB_OTHER,        ['"'] = PB_OTHER,        ['#'] = PB_OTHER,
    ['$'] = PB_WORD,         ['%'] = PB_OTHER,        ['&'] = PB_OTHER,
    ['\''] = PB_OTHER,       [')'] = PB_OTHER,        ['*'] = PB_OTHER,
    ['+'] = PB_OTHER,        [','] = PB_OTHER,        ['-'] = PB_OTHER,
    ['.'] = PB_OTHER,        ['/'] = PB_OTHER,        [':'] = PB_OTHER,
    ['<'] = PB_OTHER,        ['='] = PB_OTHER,        ['>'] = PB_OTHER,
    ['\\'] = PB_OTHER,       ['^'] = PB_OTHER,        ['_'] = PB_WORD,
    ['`'] = PB_OTHER,        ['|'] = PB_OTHER,        ['~'] = PB_OTHER,
    ['0' ... '9'] = PB_WORD, ['A' ... 'D'] = PB_WORD, ['E' ... 'G'] = PB_HEAD,
    ['H'] = PB_WORD,         ['I'] = PB_HEAD,         ['J' ... 'K'] = PB_WORD,
    ['L'] = PB_HEAD,         ['M'] = PB_WORD,         ['N'] = PB_HEAD,
    ['O'] = PB_WORD,         ['P'] = PB_HEAD,         ['Q' ... 'R'] = PB_WORD,
    ['S' ... 'T'] = PB_HEAD, ['U'] = PB_WORD,         ['V'] = PB_HEAD,
    ['W' ... 'Z'] = PB_WORD, ['a' ... 'd'] = PB_WORD, ['e' ... 'g'] = PB_HEAD,
    ['h'] = PB_WORD,         ['i'] = PB_HEAD,         ['j' ... 'k'] = PB_WORD,
    ['l'] = PB_HEAD,         ['m'] = PB_WORD,         ['n'] = PB_HEAD,
    ['o'] = PB_WORD,         ['p'] = PB_HEAD,         ['q' ... 'r'] = PB_WORD,
    ['s' ... 't'] = PB_HEAD, ['u'] = PB_WORD,         ['v'] = PB_HEAD,
    ['w' ... 'z'] = PB_WORD,
};

/* The words that can make a SELECT leave state without an '@', a call or a second statement
 * (see plain_select), by length, in upper case; each begins with a PB_HEAD letter. */
static const char *const plain_stop_words[20][3] = {
    [3] = {"FOR"},
    [4] = {"NEXT", "INTO", "LOCK"},
    [5] = {"VALUE"},
    [6] = {"EXPORT", "SETVAL"},
    [7] = {"NEXTVAL", "LASTVAL"},
    [8] = {"PREVIOUS", "GET_LOCK"},
    [9] = {"TEMPORARY"},
    [14] = {"SESSION_STATUS"},
    [16] = {"STATUS_BY_THREAD"},
    [19] = {"SQL_CALC_FOUND_ROWS"},
};

/* For each length, a bit (byte & 31) for the first letter of each stop word of that length:
 * a word whose bit is clear is none of them, and is compared with nothing. Other bytes than
 * letters may share a letter's bit: they only cost the comparison. */
#define PB_BIT(c) (1u << ((c)&31))
static const uint32_t plain_stop_first[20] = {
    [3] = PB_BIT('F'),
    [4] = PB_BIT('N') | PB_BIT('I') | PB_BIT('L'),
    [5] = PB_BIT('V'),
    [6] = PB_BIT('E') | PB_BIT('S'),
    [7] = PB_BIT('N') | PB_BIT('L'),
    [8] = PB_BIT('P') | PB_BIT('G'),
    [9] = PB_BIT('T'),
    [14] = PB_BIT('S'),
    [16] = PB_BIT('S'),
    [19] = PB_BIT('S'),
};
#undef PB_BIT

/* True when WORD[0..LEN) is one of plain_stop_words, whose length and first letter
 * plain_stop_first admits. */
static __attribute__((noinline)) bool plain_stop_compare(const unsigned char *word, size_t len)
{
    char first = (char)(word[0] & ~0x20); /* a letter in upper case; '_', '$', digits match none */
    for (int i = 0; i < 3 && plain_stop_words[len][i]; i++)
        if (plain_stop_words[len][i][0] == first &&
            strncasecmp((const char *)word, plain_stop_words[len][i], len) == 0)
            return true;
    return false;
}

/* True when WORD[0..LEN) is one of plain_stop_words. By length, then first letter: most words
 * of a query are compared with nothing. */
static inline bool plain_stop_word(const unsigned char *word, size_t len)
{
    return len < 20 && (plain_stop_first[len] >> (word[0] & 31) & 1) &&
           plain_stop_compare(word, len);
}

/* True when Q[0..6) is SELECT in any case (a byte whose 0x20 bit set reads as a lower-case
 * letter is that letter). */
static inline bool plain_is_select(const unsigned char *q)
{
    return (q[0] | 0x20) == 's' && (q[1] | 0x20) == 'e' && (q[2] | 0x20) == 'l' &&
           (q[3] | 0x20) == 'e' && (q[4] | 0x20) == 'c' && (q[5] | 0x20) == 't';
}

/* The first byte of Q[0..END) that plain_select must look at more closely (a byte it stops at,
 * or the first letter of a word that may be a stop word), END if none. Q is at a token
 * boundary: its first byte is not a word byte, or the one before it is not; so is the result. */
static inline const unsigned char *plain_skip(const unsigned char *q, const unsigned char *end)
{
    while (q < end) {
        unsigned k = plain_class[*q];
        if (k == PB_WORD) {
            while (++q < end && plain_class[*q] >= PB_WORD)
                continue;
        } else if (k == PB_OTHER || k == PB_SPACE) {
            q++;
        } else {
            break;
        }
    }
    return q;
}

/* True when Q[0..END) holds no byte plain_select stops at and no stop word. Q is at a token
 * boundary (see plain_skip). */
static bool plain_from(const unsigned char *q, const unsigned char *end)
{
    while (q < end) {
        unsigned k = plain_class[*q];
        if (k >= PB_WORD) {
            const unsigned char *word = q;
            while (++q < end && plain_class[*q] >= PB_WORD)
                continue;
            if (plain_stop_word(word, (size_t)(q - word)))
                return false;
        } else if (k == PB_STOP) {
            return false;
        } else {
            q++;
        }
    }
    return true;
}

/* This thread's memory of a statement plain_select accepted (when it fit), kept up to the start
 * of its last word: a program that keeps its connection sends the same SELECT with other
 * literals, and only the tokens from where it first differs are scanned. A statement accepted
 * from the memory replaces it only after a second long scan in a row (PLAIN_RESCAN): a short
 * differing tail (a number) costs less scanned again than copied, and a program that
 * alternates two SELECTs keeps one of them. */
enum { PLAIN_MEMORY = 256, PLAIN_RESCAN = 16 };
static __thread __attribute__((tls_model("initial-exec"))) struct {
    uint32_t len;    /* 0: none */
    uint32_t body;   /* where the scan after "SELECT " began */
    uint32_t misses; /* long scans since the memory last served a short one */
    unsigned char text[PLAIN_MEMORY];
} last_plain;

#if defined(__SSE2__)
/* The bits of the bytes that differ between A[0..16) and B[0..16) (bit i: byte i). */
static inline unsigned differ16(const unsigned char *a, const unsigned char *b)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)a);
    __m128i y = _mm_loadu_si128((const __m128i *)(const void *)b);
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) ^ 0xffffu;
}
#endif

/* The bits of the bytes that differ between A[0..8) and B[0..8) (as 8-bit groups, the lowest
 * group the first byte's: little-endian only). */
static inline uint64_t differ8(const unsigned char *a, const unsigned char *b)
{
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return x ^ y;
}

/* How many bytes A and B (N < 16 bytes each) have in common from the start. Reads no byte
 * outside them: the last block overlaps the first instead. */
static inline size_t common_prefix_short(const unsigned char *a, const unsigned char *b, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 8) {
        uint64_t x = differ8(a, b);
        if (x)
            return (size_t)__builtin_ctzll(x) / 8;
        x = differ8(a + n - 8, b + n - 8);
        return x ? n - 8 + (size_t)__builtin_ctzll(x) / 8 : n;
    }
    if (n >= 4) { /* "SELECT " */
        uint32_t u, v;
        memcpy(&u, a, 4), memcpy(&v, b, 4);
        if ((u ^= v) != 0)
            return (size_t)__builtin_ctz(u) / 8;
        memcpy(&u, a + n - 4, 4), memcpy(&v, b + n - 4, 4);
        return (u ^= v) ? n - 4 + (size_t)__builtin_ctz(u) / 8 : n;
    }
#endif
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* How many bytes A and B (N bytes each) have in common from the start. Reads no byte outside
 * them: the last block overlaps the one before instead. */
static inline size_t common_prefix(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (__builtin_expect(n >= 16, 1)) {
        unsigned d;
        for (; i + 16 < n; i += 16)
            if ((d = differ16(a + i, b + i)) != 0)
                return i + (size_t)__builtin_ctz(d);
        d = differ16(a + n - 16, b + n - 16);
        return d ? n - 16 + (size_t)__builtin_ctz(d) : n;
    }
#elif __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (uint64_t x; i + 16 <= n; i += 8)
        if ((x = differ8(a + i, b + i)) != 0)
            return i + (size_t)__builtin_ctzll(x) / 8;
#endif
    return i + common_prefix_short(a + i, b + i, n - i);
}

/* Where the scan of Q[0..LEN) may begin, given this thread's memory: the start of the token
 * where Q first differs from it (all before was accepted). 0: scan it all. */
static inline size_t plain_resume(const unsigned char *q, size_t len)
{
    size_t body = last_plain.body, kept = last_plain.len, n = len < kept ? len : kept;
    size_t at = common_prefix(q, last_plain.text, n);
    if (__builtin_expect(at == kept, 1))
        return at; /* the memory ends at a token boundary (0: empty) */
    if (at < body)
        return 0;
    while (at > body && plain_class[q[at - 1]] >= PB_WORD)
        at--; /* back to the start of the word it falls in */
    return at;
}

/* Remembers Q[0..LEN), accepted with its scan begun at BODY, up to the start of its last word
 * (most often the literal that the next statement changes): the memory then ends at a token
 * boundary. Its first SAME bytes are the memory's already. */
static __attribute__((noinline)) void plain_remember(const unsigned char *q, size_t len,
                                                     size_t body, size_t same)
{
    if (len > PLAIN_MEMORY)
        return; /* the memory keeps the statement before, accepted too */
    while (len > body && plain_class[q[len - 1]] >= PB_WORD)
        len--;
    if (len > same)
        memcpy(last_plain.text + same, q + same, len - same);
    last_plain.len = (uint32_t)len;
    last_plain.body = (uint32_t)body;
    last_plain.misses = 0;
}

/* True when SQL[0..LEN) is one SELECT whose bytes alone prove it leaves nothing, whatever the
 * quoting rules and the character set: it starts with SELECT, holds only ASCII letters, digits,
 * white space and the punctuation of plain expressions (no '@', no '(' so no call, no ';' so
 * one statement, no byte >= 0x7f), and none of the words that make a SELECT leave state
 * without those (SQL_CALC_FOUND_ROWS, NEXT VALUE FOR, INTO, FOR UPDATE, LOCK IN SHARE MODE,
 * the session status tables...), in a string or a comment or not. Scans it all and remembers
 * it; ps_sql_effects_ex first tries the memory (plain_resume). The full classifier says 0 for
 * each such SELECT (fuzz_sql_effects and test_sql_effects check that it does). */
static bool plain_select(const char *sql, size_t len)
{
    const unsigned char *q = (const unsigned char *)sql, *end = q + len;
    while (q < end && plain_class[*q] == PB_SPACE)
        q++;
    if (end - q < 7 || !plain_is_select(q) || plain_class[q[6]] != PB_SPACE ||
        !plain_from(q + 7, end))
        return false;
    plain_remember((const unsigned char *)sql, len, (size_t)(q + 7 - (const unsigned char *)sql),
                   0);
    return true;
}

/* True when Q[LEN - T..LEN), 1 to 8 bytes with LEN >= 8, are all ASCII digits (false at times
 * when a byte before them is >= 0x80, and always on a big-endian machine). Eight bytes at once:
 * each byte xor '0' is 0..9 for a digit, and those alone keep bit 7 clear both as they are and
 * plus 0x76; only a byte with bit 7 set carries into the next one, and a carry never clears a
 * bit 7 that should be set. */
static inline bool plain_digits(const unsigned char *q, size_t len, size_t t)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, q + len - 8, 8); /* the last byte is the highest */
    x ^= 0x3030303030303030u;
    uint64_t high = (x | (x + 0x7676767676767676u)) & 0x8080808080808080u;
    return (high >> (8 * (8 - t))) == 0;
#else
    (void)q, (void)len, (void)t;
    return false;
#endif
}

/* ps_sql_effects_ex when the memory alone did not settle SQL[0..LEN): AT 0, it did not prove
 * the head (a full scan follows); else it proved SQL[0..AT), and SQL[AT..FROM) too, and the scan
 * goes on from FROM. */
static __attribute__((noinline)) unsigned effects_slow(const char *sql, size_t len, size_t at,
                                                       size_t from, bool *only_replayable)
{
    const unsigned char *q = (const unsigned char *)sql;
    bool plain = at ? plain_from(q + from, q + len) : plain_select(sql, len);
    if (!plain)
        return ps_sql_effects_full(sql, len, only_replayable);
    if (at && len - at > PLAIN_RESCAN && ++last_plain.misses > 1)
        plain_remember(q, len, last_plain.body, at);
    *only_replayable = false;
    return 0;
}

/* The fast path first: when this thread's memory proves the head of SQL[0..LEN) and the bytes
 * from there need no closer look (a number, or no byte plain_skip stops at), the answer is 0
 * at once. Everything else (effects_slow) is out of line and reached by a tail call, so that
 * this function calls nothing and saves few registers. */
unsigned ps_sql_effects_ex(const char *sql, size_t len, bool *only_replayable)
{
    const unsigned char *q = (const unsigned char *)sql;
    size_t at = plain_resume(q, len);
    if (__builtin_expect(at == 0, 0))
        return effects_slow(sql, len, 0, 0, only_replayable);
    size_t t = len - at; /* at >= 7 here ("SELECT "), so t <= 8 gives len >= 8 */
    if (__builtin_expect(t - 1 < 8, 1) && plain_digits(q, len, t)) {
        last_plain.misses = 0;
        *only_replayable = false; /* one number: the usual tail */
        return 0;
    }
    const unsigned char *from = plain_skip(q + at, q + len);
    if (__builtin_expect(from != q + len || t > PLAIN_RESCAN, 0))
        return effects_slow(sql, len, at, (size_t)(from - q), only_replayable);
    last_plain.misses = 0;
    *only_replayable = false;
    return 0;
}

unsigned ps_sql_effects_full(const char *sql, size_t len, bool *only_replayable)
{
    unsigned backslashes, ignored;
    bool only, also;
    unsigned effects = one_pass(sql, len, PS_ESC_SINGLE | PS_ESC_DOUBLE, &only, &backslashes);
    if (backslashes & PS_ESC_DOUBLE) { /* ANSI_QUOTES: "..." is an identifier, no escapes */
        effects |= one_pass(sql, len, PS_ESC_SINGLE, &also, &ignored);
        only = only && also;
    }
    if (backslashes) { /* NO_BACKSLASH_ESCAPES */
        effects |= one_pass(sql, len, 0, &also, &ignored);
        only = only && also;
    }
    if (ps_lex_charset_dependent(sql, len) ||
        ((effects & PS_SQL_USER_VARIABLES) && !literals_exact(sql, len)))
        effects |= PS_SQL_SESSION;
    *only_replayable = only && (effects & PS_SQL_REPLAYABLE) && !(effects & ~PS_SQL_REPLAYED);
    return effects;
}

bool ps_sql_user_literals(const char *sql, size_t len,
                          void (*each)(void *ctx, const ps_sql_literal *a), void *ctx)
{
    bool only;
    unsigned fx = ps_sql_effects_full(sql, len, &only);
    if (!(fx & PS_SQL_USER_VARIABLES) || (fx & ~PS_SQL_REPLAYED))
        return false;
    /* one pass reads the text as the server does: it has no backslash (literals_exact) */
    literal_sink sink = {each, ctx};
    ps_lexer lx = {sql, sql + len, PS_ESC_SINGLE | PS_ESC_DOUBLE, 0, false};
    for (ps_token t = ps_lex_next(&lx); t.kind != PS_TOK_END; t = ps_lex_next(&lx)) {
        if (is_word(&t, "SET")) { /* consumed up to its end */
            if (!replayable_set(&lx, &sink))
                return false;
            continue;
        }
        while (!ends(&t)) /* another statement: skipped */
            t = ps_lex_next(&lx);
    }
    return true;
}

unsigned ps_sql_effects(const char *sql, size_t len)
{
    bool only;
    return ps_sql_effects_ex(sql, len, &only);
}

const char *ps_sql_effect_reason(unsigned effects)
{
    if (effects & PS_SQL_RESET_KEEPS)
        return "session state no reset gives back and a new connection cannot have (a role "
               "set with SET ROLE or by a procedure, server options set with "
               "mysql_set_server_option, profiling)";
    if (effects & PS_SQL_LOCK)
        return "holds or may hold a lock (LOCK TABLES / GET_LOCK / FLUSH ... WITH READ LOCK / "
               "FOR EXPORT / BACKUP)";
    if (effects & PS_SQL_SESSION)
        return "session state the shim cannot replay or rule out (user variable, temporary "
               "table, prepared SQL, session variable, stored function or procedure, session "
               "status counters read...)";
    if (effects & PS_SQL_FOUND_ROWS)
        return "SQL_CALC_FOUND_ROWS result pending";
    return "";
}
