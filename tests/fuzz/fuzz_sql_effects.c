/* libFuzzer target for the statement classifier (ps_sql_effects, ps_sql_effects_ex).
 *
 * Input: a control byte, then the SQL text (any bytes; every text the classifier sees is copied
 * to an exact-size heap buffer, so ASan reports any read past its length).
 *
 * The pin bits are PS_SQL_SESSION | PS_SQL_LOCK | PS_SQL_FOUND_ROWS: those keep a handle from
 * being reaped, so no change below may remove one. Checked:
 *   - never crashes, never reads past the length; the verdict is deterministic and
 *     ps_sql_effects agrees with ps_sql_effects_ex; "only replayable" means PS_SQL_REPLAYABLE
 *     and no bit outside PS_SQL_REPLAYED;
 *   - monotonic: A ";" B keeps every pin bit of A (A = the text cut at a point the control byte
 *     picks, B = the rest);
 *   - spelling: every pin bit survives each of these rewrites of the whole text, which the
 *     server reads the same way or as a call it cannot prove harmless:
 *       backticks around every builtin function name glued to a '(' (`GET_LOCK`(...)),
 *       white space between every word and its '(' (space and tab: a newline would end a
 *       '#' comment), and a comment there before the text's first comment marker (inside a
 *       comment it would end that one),
 *       upper or lower case for every ASCII letter (but the M of an executable comment),
 *       white space and an empty comment before the text and white space after it.
 *   A word only counts as a name when the byte before it can end no token it would belong to
 *   (not a word byte, '@', '.', a quote, a backslash or a byte >= 0x80). */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/sql_effects.h"
#include "poolshim/sql_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned pins = PS_SQL_SESSION | PS_SQL_LOCK | PS_SQL_FOUND_ROWS;

enum { MAX_TEXT = 1 << 16 };

/* Aborts with a description (libFuzzer saves the input). */
static void fail(const char *what, const char *sql, size_t len, unsigned want, unsigned got)
{
    fprintf(stderr, "fuzz_sql_effects: %s: %#x -> %#x for %zu bytes: %.*s\n", what, want, got, len,
            (int)(len > 300 ? 300 : len), sql);
    abort();
}

/* ps_sql_effects_ex of an exact-size heap copy of S[0..N), with the consistency checks. */
static unsigned effects(const char *s, size_t n)
{
    char *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, s, n);
    bool only;
    unsigned fx = ps_sql_effects_ex(copy, n, &only);
    if (ps_sql_effects(copy, n) != fx)
        fail("not deterministic", s, n, fx, ps_sql_effects(copy, n));
    if (only && (!(fx & PS_SQL_REPLAYABLE) || (fx & ~PS_SQL_REPLAYED)))
        fail("only replayable but more", s, n, PS_SQL_REPLAYABLE, fx);
    free(copy);
    return fx;
}

/* Fails when REWRITTEN[0..N) lost a pin bit of the original's WANT. */
static void keeps(const char *what, const char *rewritten, size_t n, unsigned want)
{
    unsigned got = effects(rewritten, n);
    if ((want & pins) & ~got)
        fail(what, rewritten, n, want, got);
}

/* True when the byte before offset I of S can end no token a word at I would belong to. */
static bool word_may_start(const char *s, size_t i)
{
    if (i == 0)
        return true;
    unsigned char c = (unsigned char)s[i - 1];
    return !(isalnum(c) || c == '_' || c == '$' || c == '@' || c == '.' || c == '`' || c == '"' ||
             c == '\'' || c == '\\' || c >= 0x80);
}

/* Length of the word run at S[I..N) (0 when none). */
static size_t word_at(const char *s, size_t i, size_t n)
{
    size_t j = i;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '$'))
        j++;
    return j - i;
}

/* Where S[0..N)'s first comment marker (slash-star, '#', "--") starts: before it no byte can
 * be inside a comment, so an added comment cannot close one. */
static size_t code_end(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '#' ||
            (i + 1 < n && ((s[i] == '/' && s[i + 1] == '*') || (s[i] == '-' && s[i + 1] == '-'))))
            return i;
    return n;
}

/* Writes S[0..N) into OUT with BEFORE/AFTER around every word glued to a '(' (and not after a
 * byte that would make it part of another token; with KNOWN, only the names sql_names.c knows:
 * quoting FLUSH in "FLUSH(..." makes it no statement at all); returns the new length. OUT holds
 * 3 * N + 16 bytes. */
static size_t wrap_calls(const char *s, size_t n, const char *before, const char *after, bool known,
                         char *out)
{
    size_t o = 0, lb = strlen(before), la = strlen(after);
    size_t end = strchr(after, '*') ? code_end(s, n) : n; /* a comment must not end one */
    for (size_t i = 0; i < n;) {
        size_t w = word_may_start(s, i) && i < end ? word_at(s, i, n) : 0;
        if (w && known && ps_sql_call_kind(s + i, w, true) == PS_CALL_UNKNOWN)
            w = 0;
        if (w && i + w < n && s[i + w] == '(' && lb + la <= 4) {
            memcpy(out + o, before, lb), o += lb;
            memcpy(out + o, s + i, w), o += w;
            memcpy(out + o, after, la), o += la;
            i += w;
        } else {
            out[o++] = s[i++];
        }
    }
    return o;
}

/* Upper (UP) or lower case of every ASCII letter of S[0..N) into OUT, but the letter right
 * after a slash-star (MariaDB's executable comments are case-sensitive there). */
static void recase(const char *s, size_t n, bool up, char *out)
{
    for (size_t i = 0; i < n; i++) {
        bool marker = i >= 2 && s[i - 2] == '/' && s[i - 1] == '*';
        unsigned char c = (unsigned char)s[i];
        out[i] = marker || c >= 0x80 ? (char)c : (char)(up ? toupper(c) : tolower(c));
    }
}

/* The spelling invariants on S[0..N) with verdict FX. */
static void check_spellings(const char *s, size_t n, unsigned fx, char *buf)
{
    keeps("backticks around a function name", buf, wrap_calls(s, n, "`", "`", true, buf), fx);
    keeps("a comment before '('", buf, wrap_calls(s, n, "", "/**/", false, buf), fx);
    keeps("white space before '('", buf, wrap_calls(s, n, "", " \t", false, buf), fx);
    recase(s, n, true, buf);
    keeps("upper case", buf, n, fx);
    recase(s, n, false, buf);
    keeps("lower case", buf, n, fx);
    memcpy(buf, " /**/\t", 6);
    memcpy(buf + 6, s, n);
    buf[6 + n] = ' ';
    keeps("blanks around the text", buf, n + 7, fx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_TEXT)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    unsigned fx = effects(s, n);
    char *buf = malloc(3 * n + 16);
    if (!buf)
        abort();
    size_t cut = n ? (size_t)data[0] * n / 255 : 0; /* A = s[0..cut), B = the rest */
    unsigned fa = effects(s, cut);
    memcpy(buf, s, cut);
    buf[cut] = ';';
    memcpy(buf + cut + 1, s + cut, n - cut);
    keeps("appending a statement", buf, n + 1, fa);
    check_spellings(s, n, fx, buf);
    free(buf);
    return 0;
}
