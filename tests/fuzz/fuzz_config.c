/* libFuzzer target for ps_config_parse.
 *
 * Input: the values of the POOLSHIM_* variables in config.def order, separated by NUL bytes
 * (a value is a C string, so NUL is the one byte it can never hold). A value that is exactly
 * the byte 0xff, and every value past the end of the input, is unset (the getter returns NULL);
 * an empty value is set-but-empty (an empty input sets nothing). A value that is exactly 0xfe
 * and one byte B stands for a boundary of that variable, taken from config.def so that the
 * fuzzer reaches them without seeds: the decimal min-1, min, min+1, max-1, max or max+1 (a
 * string variable: 'a' repeated to its buffer size minus 2, 1 or 0), chosen by B % 6. Bytes
 * after the last variable's value are ignored.
 *
 * Invariants, each checked with abort() so libFuzzer keeps the input:
 *   - every numeric field lies within its min..max of config.def, the string field is
 *     NUL-terminated within its buffer, and an unset variable keeps its default;
 *   - the number of reports equals the return value; each report is non-empty and one line;
 *   - variables are independent: parsing each set variable alone reports it at most once, the
 *     reports add up to the full parse's, a rejected variable keeps its default, an accepted
 *     one gets the same value as in the full parse, and nothing else moves off its default;
 *   - parsing the same input twice gives the same configuration.
 * Everything is expanded from config.def, so adding a variable needs no edit here. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/config.h"

/* The full name of every variable, in config.def order. */
static const char *const var_names[] = {
#define PS_CFG(NAME, type, field, dflt, min, max, doc) "POOLSHIM_" #NAME,
#include "poolshim/config.def"
#undef PS_CFG
};

enum { VAR_COUNT = sizeof var_names / sizeof var_names[0] };

/* The bounds of every variable, in config.def order; str_size is 0 for numbers. */
static const struct var_bounds {
    int64_t min, max;
    size_t str_size;
} var_bounds[] = {
#define BOUNDS_NUM(f, min, max)                        {(min), (max), 0},
#define BOUNDS_BOOL                                    BOUNDS_NUM
#define BOUNDS_INT                                     BOUNDS_NUM
#define BOUNDS_AUTOINT                                 BOUNDS_NUM
#define BOUNDS_MS                                      BOUNDS_NUM
#define BOUNDS_LEVEL                                   BOUNDS_NUM
#define BOUNDS_STR(f, min, max)                        {(min), (max), sizeof((ps_config *)0)->f},
#define PS_CFG(NAME, type, field, dflt, min, max, doc) BOUNDS_##type(field, min, max)
#include "poolshim/config.def"
#undef PS_CFG
#undef BOUNDS_NUM
#undef BOUNDS_BOOL
#undef BOUNDS_INT
#undef BOUNDS_AUTOINT
#undef BOUNDS_MS
#undef BOUNDS_LEVEL
#undef BOUNDS_STR
};

/* The byte that, alone, stands for an unset variable. */
#define UNSET_MARKER '\xff'

/* The byte that, followed by one more, stands for a boundary value. */
#define BOUNDARY_MARKER '\xfe'

/* One parse: the values the getter hands out and what the reporter saw. */
typedef struct parse_run {
    char *values[VAR_COUNT]; /* NULL = unset; each an exact-size heap copy (ASan sees overreads) */
    int reports;
} parse_run;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints which invariant broke and aborts, so libFuzzer saves the input as a crash. */
__attribute__((noreturn)) static void fail(const char *invariant, const char *detail)
{
    fprintf(stderr, "fuzz_config: invariant broken: %s%s%s\n", invariant, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

/* Returns a heap copy of boundary CHOICE % 6 of variable INDEX (see the file comment). */
static char *boundary_value(int index, uint8_t choice)
{
    const struct var_bounds *b = &var_bounds[index];
    int offset = choice % 3 - 1; /* -1, 0, +1 */
    if (b->str_size) {
        size_t len = b->str_size + (size_t)(offset + 1) - 2;
        char *v = malloc(len + 1);
        if (!v)
            abort();
        memset(v, 'a', len);
        v[len] = '\0';
        return v;
    }
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)((choice % 6 < 3 ? b->min : b->max) + offset));
    char *v = strdup(text);
    if (!v)
        abort();
    return v;
}

/* Returns a heap copy of S[0..LEN) plus a NUL as the value of variable INDEX, NULL for the
 * unset marker, or a boundary for the boundary marker. */
static char *copy_value(int index, const uint8_t *s, size_t len)
{
    if (len == 1 && s[0] == (uint8_t)UNSET_MARKER)
        return NULL;
    if (len == 2 && s[0] == (uint8_t)BOUNDARY_MARKER)
        return boundary_value(index, s[1]);
    char *v = malloc(len + 1);
    if (!v)
        abort();
    memcpy(v, s, len);
    v[len] = '\0';
    return v;
}

/* Splits DATA on NUL bytes into one value per variable (see the file comment) in RUN. */
static void split_input(const uint8_t *data, size_t size, parse_run *run)
{
    memset(run, 0, sizeof *run);
    size_t start = 0;
    for (int i = 0; i < VAR_COUNT && size > 0; i++) {
        const uint8_t *end = memchr(data + start, '\0', size - start);
        size_t len = end ? (size_t)(end - (data + start)) : size - start;
        run->values[i] = copy_value(i, data + start, len);
        if (!end)
            break;
        start += len + 1;
    }
}

/* Frees the values of RUN. */
static void free_values(parse_run *run)
{
    for (int i = 0; i < VAR_COUNT; i++)
        free(run->values[i]);
}

/* Getter over a parse_run: the value of NAME, or NULL; aborts on a name config.def lacks. */
static const char *run_get(const char *name, void *ctx)
{
    parse_run *run = ctx;
    for (int i = 0; i < VAR_COUNT; i++)
        if (!strcmp(name, var_names[i]))
            return run->values[i];
    fail("the parser asked for a variable config.def does not list", name);
}

/* Reporter over a parse_run: counts MESSAGE and aborts unless it is one non-empty line. */
static void run_report(const char *message, void *ctx)
{
    parse_run *run = ctx;
    if (!message || !*message)
        fail("a report is empty", NULL);
    if (strchr(message, '\n'))
        fail("a report spans several lines", message);
    run->reports++;
}

/* Parses RUN's values into CFG; aborts unless the return value equals the number of reports. */
static int parse_checked(parse_run *run, ps_config *cfg)
{
    run->reports = 0;
    int bad = ps_config_parse(cfg, run_get, run_report, run);
    if (bad != run->reports)
        fail("the return value differs from the number of reports", NULL);
    return bad;
}

/* Aborts unless every numeric field of CFG is within config.def's bounds and the string field is
 * NUL-terminated within its buffer. */
static void check_bounds(const ps_config *cfg)
{
#define CHECK_RANGE(f, min, max)                                                                   \
    if (cfg->f < (min) || cfg->f > (max))                                                          \
        fail("field out of its config.def bounds", #f);
#define CHECK_BOOL CHECK_RANGE
#define CHECK_INT  CHECK_RANGE
#define CHECK_AUTOINT(f, min, max)                                                                 \
    if (cfg->f != 0 && (cfg->f < (min) || cfg->f > (max)))                                         \
        fail("field out of its config.def bounds (and not auto)", #f);
#define CHECK_MS    CHECK_RANGE
#define CHECK_LEVEL CHECK_RANGE
#define CHECK_STR(f, min, max)                                                                     \
    if (!memchr(cfg->f, '\0', sizeof cfg->f))                                                      \
        fail("string field not NUL-terminated", #f);
#define PS_CFG(NAME, type, field, dflt, min, max, doc) CHECK_##type(field, min, max)
#include "poolshim/config.def"
#undef PS_CFG
#undef CHECK_RANGE
#undef CHECK_BOOL
#undef CHECK_INT
#undef CHECK_AUTOINT
#undef CHECK_MS
#undef CHECK_LEVEL
#undef CHECK_STR
}

/* True when field number INDEX (config.def order) holds the same value in A and B. */
static bool field_equal(const ps_config *a, const ps_config *b, int index)
{
    int i = 0;
#define SAME_NUM(f)  (a->f == b->f)
#define SAME_BOOL    SAME_NUM
#define SAME_INT     SAME_NUM
#define SAME_AUTOINT SAME_NUM
#define SAME_MS      SAME_NUM
#define SAME_LEVEL   SAME_NUM
#define SAME_STR(f)  (strncmp(a->f, b->f, sizeof a->f) == 0)
#define PS_CFG(NAME, type, field, dflt, min, max, doc)                                             \
    if (i++ == index)                                                                              \
        return SAME_##type(field);
#include "poolshim/config.def"
#undef PS_CFG
#undef SAME_NUM
#undef SAME_BOOL
#undef SAME_INT
#undef SAME_AUTOINT
#undef SAME_MS
#undef SAME_LEVEL
#undef SAME_STR
    fail("field index past config.def", NULL);
}

/* True when every field is the same in A and B. */
static bool config_equal(const ps_config *a, const ps_config *b)
{
    for (int i = 0; i < VAR_COUNT; i++)
        if (!field_equal(a, b, i))
            return false;
    return true;
}

/* Aborts unless every variable RUN leaves unset kept its default in CFG. */
static void check_unset_keep_defaults(const parse_run *run, const ps_config *cfg)
{
    ps_config defaults;
    ps_config_defaults(&defaults);
    for (int i = 0; i < VAR_COUNT; i++)
        if (!run->values[i] && !field_equal(cfg, &defaults, i))
            fail("an unset variable moved off its default", var_names[i]);
}

/* Parses variable INDEX of FULL_RUN alone and checks it against FULL (the parse of every
 * variable): at most one report, the default when rejected, FULL's value when accepted, and
 * every other field at its default. Returns the number of reports. */
static int check_one_variable(const parse_run *full_run, const ps_config *full, int index)
{
    parse_run alone = {.reports = 0};
    alone.values[index] = full_run->values[index];
    ps_config cfg, defaults;
    ps_config_defaults(&defaults);
    int bad = parse_checked(&alone, &cfg);
    check_bounds(&cfg);
    if (bad > 1)
        fail("one variable was reported more than once", var_names[index]);
    if (bad && (!field_equal(&cfg, &defaults, index) || !field_equal(full, &defaults, index)))
        fail("a rejected variable did not keep its default", var_names[index]);
    if (!bad && !field_equal(&cfg, full, index))
        fail("a variable parses differently alone than with the others", var_names[index]);
    for (int i = 0; i < VAR_COUNT; i++)
        if (i != index && !field_equal(&cfg, &defaults, i))
            fail("setting one variable changed another", var_names[i]);
    return bad;
}

/* Aborts unless the per-variable reports of RUN add up to FULL_BAD, the full parse's count. */
static void check_independence(const parse_run *run, const ps_config *full, int full_bad)
{
    int sum = 0;
    for (int i = 0; i < VAR_COUNT; i++)
        if (run->values[i])
            sum += check_one_variable(run, full, i);
    if (sum != full_bad)
        fail("reports of the variables parsed alone do not add up to the full parse", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_run run;
    split_input(data, size, &run);
    ps_config first, second;
    int bad = parse_checked(&run, &first);
    check_bounds(&first);
    check_unset_keep_defaults(&run, &first);
    if (parse_checked(&run, &second) != bad || !config_equal(&first, &second))
        fail("parsing the same input twice gave different results", NULL);
    check_independence(&run, &first, bad);
    free_values(&run);
    return 0;
}
