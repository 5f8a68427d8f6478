/* A small SQL lexer, just enough to classify statements (see sql_effects.h): it skips strings,
 * quoted identifiers and comments (but reads inside MariaDB's executable comments), splits
 * multi-statements on ';', and looks at keywords. */
#include "poolshim/sql_effects.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

enum tok_kind { T_END, T_WORD, T_AT, T_ATAT, T_STRING, T_QUOTED_ID, T_SEMI, T_PUNCT };

typedef struct lexer {
    const char *p, *end;
} lexer;

typedef struct token {
    enum tok_kind kind;
    const char *s;
    size_t n;
} token;

/* True when C can be part of an unquoted word. */
static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Skips a quoted run starting at the opening quote Q; backslash escapes and doubled quotes. */
static void skip_quoted(lexer *lx, char q)
{
    lx->p++;
    while (lx->p < lx->end) {
        char c = *lx->p++;
        if (c == '\\' && q != '`' && lx->p < lx->end)
            lx->p++;
        else if (c == q && (lx->p >= lx->end || *lx->p != q))
            return;
        else if (c == q)
            lx->p++;
    }
}

/* Skips white space and comments; executable comments (/ *! and / *M!) are opened, so their
 * content is lexed as code. Returns when at a token or the end. */
static void skip_space(lexer *lx)
{
    while (lx->p < lx->end) {
        const char *p = lx->p;
        size_t left = (size_t)(lx->end - p);
        if (isspace((unsigned char)*p)) {
            lx->p++;
        } else if (*p == '#' || (left >= 2 && p[0] == '-' && p[1] == '-' &&
                                 (left == 2 || isspace((unsigned char)p[2])))) {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (left >= 3 && p[0] == '/' && p[1] == '*' && (p[2] == '!' || p[2] == 'M')) {
            lx->p += (p[2] == 'M' && left >= 4 && p[3] == '!') ? 4 : 3;
            while (lx->p < lx->end && isdigit((unsigned char)*lx->p))
                lx->p++;
        } else if (left >= 2 && p[0] == '/' && p[1] == '*') {
            const char *close = NULL;
            for (const char *q = p + 2; q + 1 < lx->end && !close; q++)
                if (q[0] == '*' && q[1] == '/')
                    close = q;
            lx->p = close ? close + 2 : lx->end;
        } else if (left >= 2 && p[0] == '*' && p[1] == '/') {
            lx->p += 2; /* end of an executable comment */
        } else {
            return;
        }
    }
}

/* Reads the next token. */
static token next_token(lexer *lx)
{
    skip_space(lx);
    token t = {T_END, lx->p, 0};
    if (lx->p >= lx->end)
        return t;
    char c = *lx->p;
    if (c == '\'' || c == '"' || c == '`') {
        skip_quoted(lx, c);
        t.kind = c == '`' ? T_QUOTED_ID : T_STRING;
    } else if (c == '@') {
        bool system = lx->p + 1 < lx->end && lx->p[1] == '@';
        lx->p += system ? 2 : 1;
        t.kind = system ? T_ATAT : T_AT;
    } else if (word_char(c)) {
        while (lx->p < lx->end && word_char(*lx->p))
            lx->p++;
        t.kind = T_WORD;
    } else {
        lx->p++;
        t.kind = c == ';' ? T_SEMI : T_PUNCT;
    }
    t.n = (size_t)(lx->p - t.s);
    return t;
}

/* True when T is the word W (case-insensitive). */
static bool is_word(const token *t, const char *w)
{
    return t->kind == T_WORD && strlen(w) == t->n && !strncasecmp(t->s, w, t->n);
}

/* True when T is one of the NULL-terminated WORDS. */
static bool is_any(const token *t, const char *const *words)
{
    for (; *words; words++)
        if (is_word(t, *words))
            return true;
    return false;
}

/* Statements that read or write data but leave no session state of their own. */
static const char *const harmless_first[] = {
    "SELECT",   "WITH",     "SHOW",      "DESCRIBE", "DESC",     "EXPLAIN", "VALUES", "TABLE",
    "HELP",     "INSERT",   "UPDATE",    "DELETE",   "REPLACE",  "LOAD",    "BEGIN",  "START",
    "COMMIT",   "ROLLBACK", "SAVEPOINT", "RELEASE",  "CREATE",   "ALTER",   "DROP",   "RENAME",
    "TRUNCATE", "ANALYZE",  "OPTIMIZE",  "CHECK",    "CHECKSUM", "REPAIR",  "GRANT",  "REVOKE",
    "UNLOCK",   "FLUSH",    "USE",       "SET",      "LOCK",     NULL};

/* Words that mark session state wherever they appear in a statement. */
static const char *const session_words[] = {"TEMPORARY", "NEXTVAL", "LASTVAL", "SETVAL",
                                            "PREVIOUS",  "NEXT",    NULL};

/* Values SET autocommit accepts. */
static const char *const bool_words[] = {"0", "1", "ON", "OFF", "TRUE", "FALSE", NULL};

/* The extra bits of a SET statement whose first word is T (ROLE, DEFAULT ROLE); consumes the
 * word after DEFAULT when it is ROLE. */
static unsigned set_role_effects(lexer *lx, const token *t)
{
    if (is_word(t, "ROLE"))
        return PS_SQL_ROLE;
    if (!is_word(t, "DEFAULT"))
        return 0;
    lexer peek = *lx;
    token next = next_token(&peek);
    if (!is_word(&next, "ROLE"))
        return 0;
    *lx = peek;
    return PS_SQL_DEFAULT_ROLE;
}

/* Classifies the assignments of a SET statement (after the SET token): REPLAYABLE when every
 * one is autocommit, NAMES or CHARACTER SET, else SESSION, with ROLE / DEFAULT_ROLE / PROFILING
 * for those. Consumes up to the statement end. */
static unsigned classify_set(lexer *lx)
{
    unsigned effects = PS_SQL_REPLAYABLE;
    token t = next_token(lx);
    unsigned extra = set_role_effects(lx, &t);
    for (;;) {
        if (t.kind == T_ATAT) /* @@autocommit, @@session.autocommit */
            t = next_token(lx);
        if (is_word(&t, "SESSION") || is_word(&t, "LOCAL")) {
            t = next_token(lx);
            if (t.kind == T_PUNCT && *t.s == '.')
                t = next_token(lx);
        }
        if (is_word(&t, "autocommit")) {
            t = next_token(lx);
            if (t.kind == T_PUNCT && (*t.s == '=' || *t.s == ':'))
                t = next_token(lx);
            if (t.kind == T_PUNCT && *t.s == '=')
                t = next_token(lx);
            if (!is_any(&t, bool_words))
                effects = PS_SQL_SESSION;
            t = next_token(lx);
        } else if (is_word(&t, "NAMES") || is_word(&t, "CHARSET") ||
                   (is_word(&t, "CHARACTER") && is_word((t = next_token(lx), &t), "SET"))) {
            t = next_token(lx); /* the charset */
            if (t.kind != T_WORD && t.kind != T_STRING)
                effects = PS_SQL_SESSION;
            t = next_token(lx);
            if (is_word(&t, "COLLATE")) {
                next_token(lx);
                t = next_token(lx);
            }
        } else {
            effects = PS_SQL_SESSION;
        }
        if (t.kind != T_PUNCT || *t.s != ',')
            break;
        t = next_token(lx);
    }
    while (t.kind != T_END && t.kind != T_SEMI) {
        if (t.kind == T_AT)
            effects = PS_SQL_SESSION;
        else if (is_word(&t, "profiling") || is_word(&t, "profiling_history_size"))
            extra |= PS_SQL_PROFILING;
        else if (is_word(&t, "CALL") || is_word(&t, "EXECUTE")) /* SET STATEMENT ... FOR */
            extra |= PS_SQL_ROLE;
        t = next_token(lx);
    }
    return effects == PS_SQL_REPLAYABLE && !extra ? effects : PS_SQL_SESSION | extra;
}

/* Classifies one statement whose first token is FIRST; consumes it up to ';' or the end. */
static unsigned classify_statement(lexer *lx, token first)
{
    if (is_word(&first, "SET"))
        return classify_set(lx);
    unsigned effects = 0;
    if (is_word(&first, "USE"))
        effects |= PS_SQL_REPLAYABLE;
    else if (is_word(&first, "LOCK"))
        effects |= PS_SQL_LOCK;
    else if (!is_any(&first, harmless_first) && first.kind != T_PUNCT)
        effects |= PS_SQL_SESSION; /* CALL, DO, HANDLER, PREPARE, EXECUTE, XA, ... */
    if (is_word(&first, "CALL") || is_word(&first, "EXECUTE"))
        effects |= PS_SQL_ROLE; /* a procedure or prepared text can run SET ROLE */
    token prev = first;
    for (token t = next_token(lx); t.kind != T_END && t.kind != T_SEMI; t = next_token(lx)) {
        if (t.kind == T_AT)
            effects |= PS_SQL_SESSION;
        else if (is_word(&t, "LOCK") || is_word(&t, "GET_LOCK"))
            effects |= PS_SQL_LOCK;
        else if (is_word(&t, "SQL_CALC_FOUND_ROWS"))
            effects |= PS_SQL_FOUND_ROWS;
        else if (is_any(&t, session_words))
            effects |= PS_SQL_SESSION;
        else if (t.kind == T_PUNCT && *t.s == '(' && is_word(&prev, "LAST_INSERT_ID")) {
            token arg = next_token(lx); /* LAST_INSERT_ID(expr) sets the value */
            if (arg.kind != T_PUNCT || *arg.s != ')')
                effects |= PS_SQL_SESSION;
            if (arg.kind == T_END || arg.kind == T_SEMI)
                break;
            t = arg;
        }
        prev = t;
    }
    return effects;
}

unsigned ps_sql_effects(const char *sql, size_t len)
{
    lexer lx = {sql, sql + len};
    unsigned effects = 0;
    for (;;) {
        token first = next_token(&lx);
        if (first.kind == T_END)
            return effects;
        if (first.kind == T_SEMI)
            continue;
        effects |= classify_statement(&lx, first);
    }
}

const char *ps_sql_effect_reason(unsigned effects)
{
    if (effects & PS_SQL_RESET_KEEPS)
        return "session state no reset gives back and a new connection cannot have (a role "
               "set with SET ROLE or by a procedure, server options set with "
               "mysql_set_server_option, profiling)";
    if (effects & PS_SQL_LOCK)
        return "holds or may hold a lock (LOCK TABLES / GET_LOCK)";
    if (effects & PS_SQL_SESSION)
        return "session state the shim cannot replay (user variable, temporary table, "
               "prepared SQL, session variable, stored procedure...)";
    if (effects & PS_SQL_FOUND_ROWS)
        return "SQL_CALC_FOUND_ROWS result pending";
    return "";
}
