/* libFuzzer target for the statement redactor (ps_sql_redact).
 *
 * Input: a control byte (the output buffer's size: PS_SQL_REDACT_MIN plus 0..255*4), then the
 * SQL text (any bytes, copied to an exact-size heap buffer so ASan reports any read past its
 * length). Checked:
 *   - never crashes, never reads past the length, deterministic;
 *   - bounded: the result is below the buffer size, and is the output's strlen;
 *   - no literal comes through: the output holds no ' or " byte and no control byte, and no
 *     word outside `...` starts with a digit (every number became '?');
 *   - `...` runs in the output are closed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/sql_lex.h"
#include "poolshim/sql_redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a description (libFuzzer saves the input). */
static void fail(const char *what, const char *out)
{
    fprintf(stderr, "fuzz_sql_redact: %s: %s\n", what, out);
    abort();
}

/* Checks what may appear in OUT (LEN bytes). */
static void check_output(const char *out, size_t len)
{
    bool in_name = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '`')
            in_name = !in_name;
        else if (c == '\'' || c == '"')
            fail("a quote in the output", out);
        else if (c < 0x20 || c == 0x7f)
            fail("a control byte in the output", out);
        else if (!in_name && c >= '0' && c <= '9' && (i == 0 || !ps_lex_word_char(out[i - 1])))
            fail("a number in the output", out);
    }
    if (in_name)
        fail("an unclosed `name` in the output", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = PS_SQL_REDACT_MIN + (size_t)data[0] * 4, n = size - 1;
    char *sql = malloc(n ? n : 1), *out = malloc(cap), *again = malloc(cap);
    if (!sql || !out || !again)
        abort();
    memcpy(sql, data + 1, n);
    size_t len = ps_sql_redact(sql, n, out, cap);
    if (len >= cap || strlen(out) != len)
        fail("length", out);
    check_output(out, len);
    if (ps_sql_redact(sql, n, again, cap) != len || memcmp(out, again, len + 1))
        fail("not deterministic", out);
    free(sql);
    free(out);
    free(again);
    return 0;
}
