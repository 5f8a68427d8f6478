/* The statement redactor (see sql_redact.h), on the lexer of sql_lex.h. It errs towards
 * redacting: whatever might be a literal becomes '?', and text whose tokens depend on the
 * session's sql_mode or character set is redacted whole. */
#include "poolshim/sql_redact.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poolshim/sql_lex.h"

static const char redacted[] = "<redacted>";
static const char more[] = "...";

/* The output being built, and the IN-list collapse in progress. */
typedef struct outbuf {
    char *s;
    size_t n, cap;
    bool full;          /* something did not fit: "..." was written, nothing more goes in */
    const char *gap_at; /* the end of the previous token in the input (NULL: none yet) */
    int in_list;        /* 0; 1 after IN; 2 after IN ( or a ',' in it; 3 after a '?' in it */
    size_t list_start;  /* where the list's first item starts in S */
    int list_items;     /* '?' items seen in the list */
} outbuf;

/* Appends T[0..N) to OB, after a space when SPACE; "..." instead when it would not fit. */
static void put(outbuf *ob, const char *t, size_t n, bool space)
{
    if (ob->full)
        return;
    size_t need = n + (space && ob->n > 0);
    if (ob->n + need + sizeof more > ob->cap) { /* keep room for "..." and the NUL */
        memcpy(ob->s + ob->n, more, sizeof more);
        ob->n += sizeof more - 1;
        ob->full = true;
        return;
    }
    if (space && ob->n > 0)
        ob->s[ob->n++] = ' ';
    memcpy(ob->s + ob->n, t, n);
    ob->n += n;
    ob->s[ob->n] = '\0';
}

/* Appends token text T[0..N) that starts at FROM and ends at TO in the input, with a space
 * when the input had anything between the previous token and this one; follows IN lists. */
static void put_token(outbuf *ob, const char *t, size_t n, const char *from, const char *to)
{
    bool space = ob->gap_at && from != ob->gap_at;
    bool item = n == 1 && *t == '?', comma = n == 1 && *t == ',', open = n == 1 && *t == '(';
    if (n == 1 && *t == ')' && ob->in_list == 3 && ob->list_items >= 2 && !ob->full) {
        ob->n = ob->list_start; /* IN (?, ?, ?) -> IN (?, ...) */
        ob->s[ob->n] = '\0';
        put(ob, "?, ...", 6, false);
    }
    put(ob, t, n, space);
    if (ob->in_list == 1 && open)
        ob->in_list = 2, ob->list_start = ob->n, ob->list_items = 0;
    else if (ob->in_list == 2 && item)
        ob->in_list = 3, ob->list_items++;
    else if (ob->in_list == 3 && comma)
        ob->in_list = 2;
    else
        ob->in_list = n == 2 && !strncasecmp(t, "IN", 2) ? 1 : 0;
    ob->gap_at = to;
}

/* True when T is the word W (case-insensitive). */
static bool word_is(const ps_token *t, const char *w)
{
    return t->kind == PS_TOK_WORD && strlen(w) == t->n && !strncasecmp(t->s, w, t->n);
}

/* True when T is a word that contains W (case-insensitive). */
static bool word_has(const ps_token *t, const char *w)
{
    size_t wn = strlen(w);
    for (size_t i = 0; t->kind == PS_TOK_WORD && i + wn <= t->n; i++)
        if (!strncasecmp(t->s + i, w, wn))
            return true;
    return false;
}

/* True when the statement of LX that starts with FIRST (read already) creates or alters a user:
 * CREATE [OR REPLACE] USER, ALTER USER. Reads a copy of the lexer. */
static bool user_statement(ps_lexer lx, const ps_token *first)
{
    if (!word_is(first, "CREATE") && !word_is(first, "ALTER"))
        return false;
    ps_token t = ps_lex_next(&lx);
    if (word_is(&t, "OR")) {
        t = ps_lex_next(&lx);
        if (!word_is(&t, "REPLACE"))
            return false;
        t = ps_lex_next(&lx);
    }
    return word_is(&t, "USER");
}

/* True when the statement of LX that starts with FIRST (read already) can carry a password:
 * see sql_redact.h. Reads a copy of the lexer to the statement's end. */
static bool carries_password(ps_lexer lx, ps_token first)
{
    static const char *const admin[] = {"SET", "CREATE", "ALTER", "GRANT", "CHANGE", NULL};
    bool is_admin = false;
    for (const char *const *w = admin; *w; w++)
        is_admin |= word_is(&first, *w);
    if (user_statement(lx, &first))
        return true;
    for (ps_token t = first; t.kind != PS_TOK_END && t.kind != PS_TOK_SEMI; t = ps_lex_next(&lx)) {
        if (word_is(&t, "IDENTIFIED") || (is_admin && word_has(&t, "PASSWORD")))
            return true;
        if ((word_is(&t, "MASTER") || word_is(&t, "REPLICATION")) && word_is(&first, "CHANGE"))
            return true;
    }
    return false;
}

/* True when T is a word of ASCII letters only (a keyword that may lead a redacted statement). */
static bool plain_word(const ps_token *t)
{
    if (t->kind != PS_TOK_WORD || t->n > 24)
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (!((t->s[i] >= 'a' && t->s[i] <= 'z') || (t->s[i] >= 'A' && t->s[i] <= 'Z')))
            return false;
    return true;
}

/* Writes the statement of LX starting with FIRST as its first two plain words and
 * "<redacted>", and skips it (LX then is at its ';' or the end). */
static void redact_statement(ps_lexer *lx, ps_token first, outbuf *ob)
{
    ps_token t = first;
    for (int i = 0; i < 2 && plain_word(&t); i++) {
        put_token(ob, t.s, t.n, t.s, t.s + t.n);
        t = ps_lex_next(lx);
    }
    put(ob, redacted, sizeof redacted - 1, ob->n > 0);
    while (t.kind != PS_TOK_END && t.kind != PS_TOK_SEMI)
        t = ps_lex_next(lx);
    if (t.kind == PS_TOK_SEMI) {
        ob->gap_at = t.s;
        put_token(ob, ";", 1, t.s, t.s + 1);
    }
}

/* True when C is an ASCII digit. */
static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Moves LX past the rest of a number that starts at S: word bytes, '.', and the sign of an
 * exponent (1.5e-3, 0x1F, 0b101, .5). */
static void skip_number(ps_lexer *lx, const char *s)
{
    bool hex = lx->end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *p = s;
    while (p < lx->end) {
        if (ps_lex_word_char(*p) || *p == '.')
            p++;
        else if ((*p == '+' || *p == '-') && p > s && (p[-1] == 'e' || p[-1] == 'E') && !hex &&
                 p + 1 < lx->end && digit(p[1]))
            p++;
        else
            break;
    }
    lx->p = p;
}

/* True when PREV, the token before a '-' or '+', ends a value, so that the sign is an operator:
 * a literal, a name, ')' (a keyword after which an expression starts is not one). */
static bool ends_value(const ps_token *prev)
{
    static const char *const before_expression[] = {
        "SELECT", "WHERE",  "AND",  "OR",   "NOT",  "XOR",      "BY",       "VALUES",
        "VALUE",  "SET",    "THEN", "ELSE", "WHEN", "LIMIT",    "OFFSET",   "BETWEEN",
        "LIKE",   "IS",     "IN",   "DIV",  "MOD",  "INTERVAL", "CASE",     "DEFAULT",
        "RETURN", "HAVING", "ON",   "DO",   "CALL", "IF",       "ELSEIF",   "UNTIL",
        "RLIKE",  "REGEXP", "ANY",  "ALL",  "SOME", "EXISTS",   "DISTINCT", NULL};
    if (prev->kind == PS_TOK_WORD) {
        for (const char *const *w = before_expression; *w; w++)
            if (word_is(prev, *w))
                return false;
        return true;
    }
    return prev->kind == PS_TOK_STRING || prev->kind == PS_TOK_DQUOTED ||
           prev->kind == PS_TOK_QUOTED_ID ||
           (prev->kind == PS_TOK_PUNCT && (*prev->s == ')' || *prev->s == '?'));
}

/* True when T (after PREV) starts a number literal: a digit, or '.', '-' or '+' glued to one
 * where no value precedes it. */
static bool starts_number(ps_lexer *lx, const ps_token *t, const ps_token *prev)
{
    if (t->kind == PS_TOK_WORD)
        return digit(*t->s);
    if (t->kind != PS_TOK_PUNCT || lx->p >= lx->end)
        return false;
    char c = *t->s, next = *lx->p;
    bool glued_name =
        prev->s + prev->n == t->s && (prev->kind == PS_TOK_WORD || prev->kind == PS_TOK_QUOTED_ID ||
                                      prev->kind == PS_TOK_DQUOTED);
    if (c == '.')
        return digit(next) && !glued_name; /* t.5 is a name */
    if (c == '-' || c == '+')
        return !ends_value(prev) &&
               (digit(next) || (next == '.' && lx->p + 1 < lx->end && digit(lx->p[1])));
    return false;
}

/* True when word T introduces the quoted literal that follows it (X'..', B'..', N'..',
 * _charset'..'): then LX is moved past that literal. */
static bool literal_prefix(ps_lexer *lx, const ps_token *t)
{
    if (t->kind != PS_TOK_WORD)
        return false;
    bool single = t->n == 1 && strchr("xXbBnN", *t->s);
    if (!single && *t->s != '_')
        return false;
    ps_lexer peek = *lx;
    ps_token q = ps_lex_next(&peek);
    bool quoted = q.kind == PS_TOK_STRING || (!single && q.kind == PS_TOK_DQUOTED);
    if (!quoted || (single && q.s != t->s + 1))
        return false;
    *lx = peek;
    return true;
}

/* Writes a `name` token T: as it is, or `?` when it holds a quote, backslash or control byte. */
static void put_quoted_name(outbuf *ob, const ps_token *t)
{
    for (size_t i = 0; i < t->n; i++) {
        unsigned char c = (unsigned char)t->s[i];
        if (c == '\'' || c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
            put_token(ob, "`?`", 3, t->s, t->s + t->n);
            return;
        }
    }
    put_token(ob, t->s, t->n, t->s, t->s + t->n);
}

/* Writes token T (after PREV) of LX redacted: a literal (moving LX past it) as '?'. */
static void put_redacted(ps_lexer *lx, const ps_token *t, const ps_token *prev, outbuf *ob)
{
    unsigned char c = (unsigned char)*t->s;
    if (t->kind == PS_TOK_STRING || t->kind == PS_TOK_DQUOTED || literal_prefix(lx, t)) {
        put_token(ob, "?", 1, t->s, lx->p);
    } else if (starts_number(lx, t, prev)) {
        skip_number(lx, t->kind == PS_TOK_WORD ? t->s : t->s + 1);
        put_token(ob, "?", 1, t->s, lx->p);
    } else if (t->kind == PS_TOK_QUOTED_ID) {
        put_quoted_name(ob, t);
    } else if (t->kind == PS_TOK_PUNCT && (c < 0x20 || c == 0x7f)) {
        ob->gap_at = t->s; /* a control byte reads as white space */
    } else {
        put_token(ob, t->s, t->n, t->s, t->s + t->n);
    }
}

/* One pass over SQL[0..LEN) applying ESCAPES into OB. *LX receives the lexer at its end (what
 * it saw: backslashes, unclosed runs). */
static void redact_pass(const char *sql, size_t len, unsigned escapes, outbuf *ob, ps_lexer *lx)
{
    *lx = (ps_lexer){sql, sql + len, escapes, 0, false};
    ps_token prev = {PS_TOK_SEMI, sql, 0, false};
    bool statement_start = true;
    while (!ob->full) {
        ps_token t = ps_lex_next(lx);
        if (t.kind == PS_TOK_END)
            break;
        if (statement_start && t.kind != PS_TOK_SEMI && carries_password(*lx, t)) {
            redact_statement(lx, t, ob);
            prev = (ps_token){PS_TOK_SEMI, lx->p, 0, false};
            continue;
        }
        put_redacted(lx, &t, &prev, ob);
        statement_start = t.kind == PS_TOK_SEMI;
        prev = t;
        if (t.kind == PS_TOK_WORD && *t.s >= '0' && *t.s <= '9')
            prev.kind = PS_TOK_PUNCT, prev.s = "?", prev.n = 1; /* a number: a value */
    }
}

/* Writes all of SQL[0..LEN) as its first words and "<redacted>" into OB (emptied first). */
static void redact_all(const char *sql, size_t len, outbuf *ob)
{
    ob->n = 0;
    ob->s[0] = '\0';
    ob->full = false;
    ob->gap_at = NULL;
    ob->in_list = 0;
    ps_lexer lx = {sql, sql + len, PS_ESC_SINGLE | PS_ESC_DOUBLE, 0, false};
    ps_token first = ps_lex_next(&lx);
    redact_statement(&lx, first, ob);
    if (lx.p < lx.end) {
        ob->n = strlen(ob->s);
        put(ob, more, sizeof more - 1, false);
    }
}

/* True when a pass under ESCAPES writes the same as OB holds (CAP bytes of room). */
static bool same_under(const char *sql, size_t len, unsigned escapes, const outbuf *ob)
{
    char *alt = malloc(ob->cap);
    if (!alt)
        return false;
    outbuf other = {alt, 0, ob->cap, false, NULL, 0, 0, 0};
    alt[0] = '\0';
    ps_lexer lx;
    redact_pass(sql, len, escapes, &other, &lx);
    bool same = other.n == ob->n && !memcmp(alt, ob->s, ob->n) && !lx.unclosed;
    free(alt);
    return same;
}

size_t ps_sql_redact(const char *sql, size_t len, char *out, size_t cap)
{
    if (cap < PS_SQL_REDACT_MIN) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    outbuf ob = {out, 0, cap, false, NULL, 0, 0, 0};
    out[0] = '\0';
    ps_lexer lx;
    redact_pass(sql, len, PS_ESC_SINGLE | PS_ESC_DOUBLE, &ob, &lx);
    bool safe = !lx.unclosed && !ps_lex_charset_dependent(sql, len);
    if (safe && (lx.backslashes & PS_ESC_DOUBLE)) /* ANSI_QUOTES: "..." without escapes */
        safe = same_under(sql, len, PS_ESC_SINGLE, &ob);
    if (safe && lx.backslashes) /* NO_BACKSLASH_ESCAPES */
        safe = same_under(sql, len, 0, &ob);
    if (!safe)
        redact_all(sql, len, &ob);
    return ob.n;
}
