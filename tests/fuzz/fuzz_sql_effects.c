/* libFuzzer target for the statement classifier (ps_sql_effects, ps_sql_effects_ex).
 *
 * Input: a control byte, then the SQL text (any bytes; every text the classifier sees is copied
 * to an exact-size heap buffer, so ASan reports any read past its length).
 *
 * The pin bits are PS_SQL_SESSION | PS_SQL_LOCK | PS_SQL_FOUND_ROWS: those keep a handle from
 * being reaped, so no change below may remove one. Checked:
 *   - never crashes, never reads past the length; the verdict is deterministic and
 *     ps_sql_effects agrees with ps_sql_effects_ex, and with ps_sql_effects_full (the plain-SELECT
 *     fast path never answers differently from the full classifier), whatever the thread's last
 *     statement: each text is also asked right after its head (cut where the control byte
 *     says, and asked after a SELECT with another head: the fast path's memory then ends inside
 *     the text, maybe inside a word), and texts that share that head with it right after it (a
 *     byte deleted at the cut, the text's last byte inserted there, a number in place of the
 *     rest); "only replayable" means
 *     PS_SQL_REPLAYABLE and no bit outside PS_SQL_REPLAYED;
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
 *   (not a word byte, '@', '.', a quote, a backslash or a byte >= 0x80);
 *   - user variables set to literals (ps_sql_user_literals): it reports assignments exactly
 *     when the verdict has PS_SQL_USER_VARIABLES and no pin bit; each lies inside the text,
 *     starts with '@' and its name, and alone ("SET " + it) is again one literal assignment of
 *     that name and text; the statement a renewal builds from them all is replayable only. */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    bool full_only;
    unsigned full = ps_sql_effects_full(copy, n, &full_only);
    if (full != fx || full_only != only) /* the plain-SELECT fast path says 0 only where */
        fail("the fast path differs from the full classifier", s, n, full, fx); /* it is 0 */
    if (only && (!(fx & PS_SQL_REPLAYABLE) || (fx & ~PS_SQL_REPLAYED)))
        fail("only replayable but more", s, n, PS_SQL_REPLAYABLE, fx);
    free(copy);
    return fx;
}

/* The fast path after a statement that shares a head with the next one: S[0..CUT) (after a
 * SELECT with another head, so that it becomes the fast path's memory if plain), then S; then
 * variants of S that differ from it from CUT on, each right after S (see the header; effects
 * asks each text twice, and a second long scan in a row rewrites the memory). BUF holds
 * 3 * N + 16 bytes. */
static void check_memory(const char *s, size_t n, size_t cut, char *buf)
{
    effects("\vSELECT 0", 9);
    effects(s, cut);
    effects(s, n);
    if (cut < n) {
        memcpy(buf, s, cut);
        memcpy(buf + cut, s + cut + 1, n - cut - 1);
        effects(buf, n - 1);
        effects(s, n);
    }
    memcpy(buf, s, cut);
    buf[cut] = n ? s[n - 1] : '1';
    memcpy(buf + cut + 1, s + cut, n - cut);
    effects(buf, n + 1);
    effects(s, n);
    memcpy(buf + cut, "42", 2);
    effects(buf, cut + 2);
}

/* What check_literals collects: the text checked, and the renewal's statement so far. */
typedef struct literals {
    const char *s;
    size_t n;
    char set[MAX_TEXT + 8];
    size_t set_len;
    unsigned count;
} literals;

/* One assignment A of L's text: inside it, '@' then its name. */
static void literal_seen(void *ctx, const ps_sql_literal *a)
{
    literals *l = ctx;
    if (a->text < l->s || a->text + a->text_len > l->s + l->n || a->text_len < 2 ||
        a->text[0] != '@' || a->name != a->text + 1 || a->name_len == 0 ||
        a->name_len >= a->text_len)
        fail("a literal assignment outside the text or without its name", l->s, l->n, 0, 0);
    if (l->set_len + a->text_len + 2 < sizeof l->set) {
        memcpy(l->set + l->set_len, l->count ? ", " : "", l->count ? 2 : 0);
        l->set_len += l->count ? 2 : 0;
        memcpy(l->set + l->set_len, a->text, a->text_len);
        l->set_len += a->text_len;
    }
    l->count++;
}

/* An assignment A alone: one literal of the same name and text (CTX: A itself). */
static void literal_again(void *ctx, const ps_sql_literal *a)
{
    const ps_sql_literal *was = ctx;
    if (a->name_len != was->name_len || memcmp(a->name, was->name, a->name_len) ||
        a->text_len != was->text_len || memcmp(a->text, was->text, a->text_len) ||
        a->charset_bound != was->charset_bound)
        fail("an assignment alone reads another", a->text, a->text_len, 0, 0);
}

/* Checks one assignment A alone (see literal_again). */
static void literal_alone(void *ctx, const ps_sql_literal *a)
{
    (void)ctx;
    char *alone = malloc(a->text_len + 4);
    if (!alone)
        abort();
    memcpy(alone, "SET ", 4);
    memcpy(alone + 4, a->text, a->text_len);
    bool only;
    unsigned fx = ps_sql_effects_full(alone, a->text_len + 4, &only);
    ps_sql_literal was = *a;
    if (!only || !(fx & PS_SQL_USER_VARIABLES) ||
        !ps_sql_user_literals(alone, a->text_len + 4, literal_again, &was))
        fail("an assignment alone is no literal one", alone, a->text_len + 4, 0, fx);
    free(alone);
}

/* The user-variable invariants on S[0..N) with verdict FX (see the header). */
static void check_literals(const char *s, size_t n, unsigned fx)
{
    char *copy = malloc(n ? n : 1);
    literals *l = malloc(sizeof *l);
    if (!copy || !l)
        abort();
    memcpy(copy, s, n);
    *l = (literals){.s = copy, .n = n};
    memcpy(l->set, "SET ", 4);
    l->set_len = 4;
    bool kept = ps_sql_user_literals(copy, n, literal_seen, l);
    bool want = (fx & PS_SQL_USER_VARIABLES) && !(fx & ~PS_SQL_REPLAYED);
    if (kept != want || (kept && !l->count))
        fail("literal assignments reported against the verdict", s, n, fx, kept);
    if (kept) {
        ps_sql_user_literals(copy, n, literal_alone, NULL);
        bool only;
        unsigned set = ps_sql_effects_full(l->set, l->set_len, &only);
        if (l->set_len < sizeof l->set - 2 && (!only || !(set & PS_SQL_USER_VARIABLES)))
            fail("the renewal's statement is not replayable", l->set, l->set_len, fx, set);
    }
    free(l);
    free(copy);
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
        if (w && known && w == 6 && !strncasecmp(s + i, "SELECT", 6))
            w = 0; /* "SELECT(" opens a query (DDL's calls run from there): `SELECT`( does not */
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
    check_literals(s, n, fx);
    char *buf = malloc(3 * n + 16);
    if (!buf)
        abort();
    size_t cut = n ? (size_t)data[0] * n / 255 : 0; /* A = s[0..cut), B = the rest */
    check_memory(s, n, cut, buf);
    unsigned fa = effects(s, cut);
    memcpy(buf, s, cut);
    buf[cut] = ';';
    memcpy(buf + cut + 1, s + cut, n - cut);
    keeps("appending a statement", buf, n + 1, fa);
    check_spellings(s, n, fx, buf);
    free(buf);
    return 0;
}
