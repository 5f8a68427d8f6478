/* The statement redactor: a statement's text fit for a log, with every literal value replaced
 * by '?' and statements that can carry a password replaced whole. A pure function, for the
 * query log and leak reports. */
#ifndef POOLSHIM_SQL_REDACT_H
#define POOLSHIM_SQL_REDACT_H

#include <stddef.h>

/* The smallest output buffer ps_sql_redact accepts. */
#define PS_SQL_REDACT_MIN 64

/* Writes SQL[0..LEN) redacted into OUT (CAP >= PS_SQL_REDACT_MIN bytes, NUL-terminated) and
 * returns its length (< CAP). Never reads past LEN. Keeps keywords, names and operators, one
 * space wherever the text had white space or a comment (comments are dropped, MariaDB's
 * executable comments read as code). Replaces by '?' every string ('...', "..." under either
 * reading of ANSI_QUOTES), number (decimal, exponent, hex 0x.., bit 0b.., a leading sign
 * after an operator), X'..', B'..', N'..' and _charset'..' literal; `names` holding a quote, a
 * backslash or a control byte become `?`. IN (?, ?, ...) lists of two or more become
 * IN (?, ...). A statement that can carry a password (SET PASSWORD, CREATE/ALTER USER, GRANT
 * or anything with IDENTIFIED, CHANGE MASTER/REPLICATION, any SET/CREATE/ALTER/GRANT/CHANGE
 * naming a PASSWORD), and text it cannot lex safely (an unclosed quote or comment, quoting that
 * depends on sql_mode's backslash rule or on a multi-byte character set), become their first
 * words and "<redacted>". Output that would not fit ends with "...". The output never holds a
 * ' or " byte, a control byte, or a word starting with a digit outside backticks. */
size_t ps_sql_redact(const char *sql, size_t len, char *out, size_t cap);

#endif
