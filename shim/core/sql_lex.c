/* The SQL lexer (see sql_lex.h). */
#include "poolshim/sql_lex.h"

#include <ctype.h>

/* Skips a quoted run starting at the opening quote Q: doubled quotes, and backslash escapes
 * where this pass applies them. */
static void skip_quoted(ps_lexer *lx, char q)
{
    unsigned run = q == '\'' ? PS_ESC_SINGLE : q == '"' ? PS_ESC_DOUBLE : 0;
    lx->p++;
    while (lx->p < lx->end) {
        char c = *lx->p++;
        if (c == '\\' && run) {
            lx->backslashes |= run;
            if ((lx->escapes & run) && lx->p < lx->end)
                lx->p++;
        } else if (c == q) {
            if (lx->p >= lx->end || *lx->p != q)
                return;
            lx->p++; /* a doubled quote stands for one */
        }
    }
    lx->unclosed = true;
}

/* Skips the version number after an executable comment's opening, as the server does: only a
 * digit run that is not glued to a word (the server would read "50000now" differently). */
static void skip_version(ps_lexer *lx)
{
    const char *q = lx->p;
    while (q < lx->end && isdigit((unsigned char)*q))
        q++;
    if (q == lx->end || !ps_lex_word_char(*q))
        lx->p = q;
}

/* Skips a comment starting at P (LEFT bytes to the end); false when P starts none. Executable
 * comments are opened, so their content is lexed as code. */
static bool skip_comment(ps_lexer *lx, const char *p, size_t left)
{
    if (*p == '#' ||
        (left >= 2 && p[0] == '-' && p[1] == '-' && (left == 2 || isspace((unsigned char)p[2])))) {
        while (lx->p < lx->end && *lx->p != '\n')
            lx->p++;
    } else if (left >= 3 && p[0] == '/' && p[1] == '*' && (p[2] == '!' || p[2] == 'M')) {
        lx->p += (p[2] == 'M' && left >= 4 && p[3] == '!') ? 4 : 3;
        skip_version(lx);
    } else if (left >= 2 && p[0] == '/' && p[1] == '*') {
        const char *close = NULL;
        for (const char *q = p + 2; q + 1 < lx->end && !close; q++)
            if (q[0] == '*' && q[1] == '/')
                close = q;
        lx->p = close ? close + 2 : lx->end;
        lx->unclosed |= !close;
    } else if (left >= 2 && p[0] == '*' && p[1] == '/') {
        lx->p += 2; /* end of an executable comment */
    } else {
        return false;
    }
    return true;
}

/* Skips white space and comments; returns at a token or the end. */
static void skip_space(ps_lexer *lx)
{
    while (lx->p < lx->end) {
        if (isspace((unsigned char)*lx->p))
            lx->p++;
        else if (!skip_comment(lx, lx->p, (size_t)(lx->end - lx->p)))
            return;
    }
}

/* Reads the next token. */
ps_token ps_lex_next(ps_lexer *lx)
{
    skip_space(lx);
    ps_token t = {PS_TOK_END, lx->p, 0, false};
    if (lx->p >= lx->end)
        return t;
    char c = *lx->p;
    if (c == '\'' || c == '"' || c == '`') {
        skip_quoted(lx, c);
        t.kind = c == '`' ? PS_TOK_QUOTED_ID : c == '"' ? PS_TOK_DQUOTED : PS_TOK_STRING;
    } else if (c == '@') {
        bool system = lx->p + 1 < lx->end && lx->p[1] == '@';
        lx->p += system ? 2 : 1;
        t.kind = system ? PS_TOK_ATAT : PS_TOK_AT;
    } else if (ps_lex_word_char(c)) {
        while (lx->p < lx->end && ps_lex_word_char(*lx->p))
            lx->p++;
        t.kind = PS_TOK_WORD;
    } else {
        lx->p++;
        t.kind = c == ';' ? PS_TOK_SEMI : PS_TOK_PUNCT;
    }
    t.n = (size_t)(lx->p - t.s);
    t.glued = lx->p < lx->end && *lx->p == '(';
    return t;
}

bool ps_lex_charset_dependent(const char *sql, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if ((unsigned char)sql[i] >= 0x80 && (sql[i + 1] == '\\' || sql[i + 1] == '`'))
            return true;
    return false;
}
