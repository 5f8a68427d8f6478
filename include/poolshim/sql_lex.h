/* A small SQL lexer shared by the statement classifier (sql_effects.h) and the redactor
 * (sql_redact.h): words, quoted runs, '@'/'@@', ';' and single punctuation bytes. Never reads
 * past the end it is given.
 *  - Quoting depends on the session's sql_mode, which the text does not show: a backslash in a
 *    '...' or "..." run is an escape unless NO_BACKSLASH_ESCAPES, and "..." is a string or (with
 *    ANSI_QUOTES) an identifier, in which a backslash is a plain character. A pass applies one
 *    rule (ps_lexer.escapes) and records in which runs a backslash was read, so that the caller
 *    can lex again under the other rules when it matters.
 *  - In multi-byte character sets (big5, cp932, gbk, sjis) a backslash or a backtick can be the
 *    second byte of a character: see ps_lex_charset_dependent.
 *  - Comments are skipped; MariaDB's executable comments (slash-star-! and slash-star-M-!) are
 *    read as code. */
#ifndef POOLSHIM_SQL_LEX_H
#define POOLSHIM_SQL_LEX_H

#include <stdbool.h>
#include <stddef.h>

enum ps_tok_kind {
    PS_TOK_END,       /* no more text */
    PS_TOK_WORD,      /* a run of letters, digits, '_' and '$' (keywords, names, numbers) */
    PS_TOK_AT,        /* '@' */
    PS_TOK_ATAT,      /* '@@' */
    PS_TOK_STRING,    /* '...' (with its quotes; unclosed at the end of the text) */
    PS_TOK_QUOTED_ID, /* `...` */
    PS_TOK_DQUOTED,   /* "..." (a string, or an identifier under ANSI_QUOTES) */
    PS_TOK_SEMI,      /* ';' */
    PS_TOK_PUNCT,     /* any other single byte */
};

/* Backslashes inside '...' and "..." runs: the escapes a pass applies, the runs that held one. */
enum { PS_ESC_SINGLE = 1u << 0, PS_ESC_DOUBLE = 1u << 1 };

typedef struct ps_lexer {
    const char *p, *end;
    unsigned escapes;     /* PS_ESC_* bits this pass treats as escapes */
    unsigned backslashes; /* PS_ESC_* bits of the runs a backslash was read in */
    bool unclosed;        /* a quoted run or a comment ran to the end of the text */
} ps_lexer;

typedef struct ps_token {
    enum ps_tok_kind kind;
    const char *s; /* where it starts in the text */
    size_t n;      /* its length in bytes */
    bool glued;    /* '(' follows with nothing in between */
} ps_token;

/* True when C can be part of an unquoted word. */
static inline bool ps_lex_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

/* Reads the next token of LX (white space and comments skipped); PS_TOK_END at the end. */
ps_token ps_lex_next(ps_lexer *lx);

/* True when SQL[0..LEN) has a byte >= 0x80 right before a backslash or a backtick: in big5,
 * cp932, gbk and sjis the two can be one character, so its quoting depends on the charset. */
bool ps_lex_charset_dependent(const char *sql, size_t len);

#endif
