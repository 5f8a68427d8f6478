/* The statement redactor: literals become '?', password statements and unsafe text go whole. */
#include <criterion/criterion.h>
#include <string.h>

#include "poolshim/sql_redact.h"

/* One statement and its redaction. */
typedef struct redaction {
    const char *sql, *want;
} redaction;

/* Checks every row of TABLE (N rows) with an output buffer of CAP bytes. */
static void check_table(const redaction *table, size_t n, size_t cap)
{
    char out[4096];
    cr_assert(cap <= sizeof out);
    for (size_t i = 0; i < n; i++) {
        size_t len = ps_sql_redact(table[i].sql, strlen(table[i].sql), out, cap);
        cr_expect_str_eq(out, table[i].want, "'%s'", table[i].sql);
        cr_expect_eq(len, strlen(out), "'%s'", table[i].sql);
    }
}

#define CHECK(table, cap) check_table(table, sizeof table / sizeof *table, cap)

Test(sql_redact, literals_become_placeholders)
{
    static const redaction table[] = {
        {"SELECT 1", "SELECT ?"},
        {"SELECT * FROM t WHERE a = 'x' AND b = \"y\"", "SELECT * FROM t WHERE a = ? AND b = ?"},
        {"select 'it''s', \"say \"\"hi\"\"\"", "select ?, ?"},
        {"SELECT 42, 4.2, .5, 1e10, 1.5E-3, 2e+7, 0x1F, 0b101", "SELECT ?, ?, ?, ?, ?, ?, ?, ?"},
        {"SELECT X'4142', x'00', B'101', b'1', N'ñ', n'x'", "SELECT ?, ?, ?, ?, ?, ?"},
        {"SELECT _utf8mb4'abc', _binary 'x', _latin1\"y\"", "SELECT ?, ?, ?"},
        {"SELECT -5, a-1, a - -2, (-3), +4, 1--5", "SELECT ?, a-?, a - ?, (?), ?, ?-?"},
        {"SELECT * FROM t WHERE a = -1 AND b BETWEEN -2 AND -3 LIMIT -4",
         "SELECT * FROM t WHERE a = ? AND b BETWEEN ? AND ? LIMIT ?"},
        {"SELECT t1.c2, `t 3`.`c-4`, @v, @@session.sql_mode FROM db1.t1",
         "SELECT t1.c2, `t 3`.`c-4`, @v, @@session.sql_mode FROM db1.t1"},
        {"SELECT t.5", "SELECT t.?"},
        {"SELECT `a'b`, `x\"y`, `back\\slash`", "SELECT `?`, `?`, `?`"},
        {"SELECT 1 -- the answer is 42\n, 2 # 43\n/* 44 */", "SELECT ? , ?"},
        {"SELECT /*!50000 SQL_NO_CACHE */ 7", "SELECT SQL_NO_CACHE ?"},
        {"SELECT\n\t1\r\n", "SELECT ?"},
        {"", ""},
    };
    CHECK(table, 1024);
}

Test(sql_redact, in_lists_collapse)
{
    static const redaction table[] = {
        {"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (?, ...)"},
        {"select * from t where id in ('a','b')", "select * from t where id in (?, ...)"},
        {"SELECT * FROM t WHERE id IN (1)", "SELECT * FROM t WHERE id IN (?)"},
        {"SELECT * FROM t WHERE id NOT IN (1,2) AND x IN (SELECT 1)",
         "SELECT * FROM t WHERE id NOT IN (?, ...) AND x IN (SELECT ?)"},
        {"SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))",
         "SELECT * FROM t WHERE (a, b) IN ((?, ?), (?, ?))"},
        {"SELECT * FROM t WHERE id IN (1, a)", "SELECT * FROM t WHERE id IN (?, a)"},
    };
    CHECK(table, 1024);
}

Test(sql_redact, password_statements_are_redacted_whole)
{
    static const redaction table[] = {
        {"CREATE USER 'bob'@'%' IDENTIFIED BY 'secret'", "CREATE USER <redacted>"},
        {"create or replace user bob identified by 'secret'", "create or <redacted>"},
        {"ALTER USER bob IDENTIFIED VIA ed25519 USING PASSWORD('secret')", "ALTER USER <redacted>"},
        {"SET PASSWORD FOR bob = PASSWORD('secret')", "SET PASSWORD <redacted>"},
        {"set password = 'hash'", "set password <redacted>"},
        {"GRANT ALL ON *.* TO bob IDENTIFIED BY 'secret'", "GRANT ALL <redacted>"},
        {"CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='secret'", "CHANGE MASTER <redacted>"},
        {"SET STATEMENT max_statement_time=1 FOR SET PASSWORD = 'x'", "SET STATEMENT <redacted>"},
        {"SELECT 1; CREATE USER u IDENTIFIED BY 'secret'; SELECT 2",
         "SELECT ?; CREATE USER <redacted>; SELECT ?"},
        {"/* x */ CREATE USER u", "CREATE USER <redacted>"},
        {"SELECT a FROM t WHERE IDENTIFIED = 1", "SELECT a <redacted>"},
        {"CREATE TABLE user_stats (id INT)", "CREATE TABLE user_stats (id INT)"},
    };
    CHECK(table, 1024);
}

Test(sql_redact, text_it_cannot_lex_safely_is_redacted_whole)
{
    static const redaction table[] = {
        {"SELECT 'unclosed", "SELECT <redacted>"},
        {"SELECT \"unclosed", "SELECT <redacted>"},
        {"SELECT `unclosed", "SELECT <redacted>"},
        {"SELECT 1 /* unclosed", "SELECT <redacted>"},
        /* 'a\' is a whole string under NO_BACKSLASH_ESCAPES: the tokens depend on sql_mode */
        {"SELECT 'a\\', 'b' , 'c'", "SELECT <redacted>"},
        /* ANSI_QUOTES: "..." with a backslash is an identifier without escapes */
        {"SELECT \"a\\\" , 'secret' , \"b\"", "SELECT <redacted>"},
        /* a backslash that changes nothing under either rule */
        {"SELECT 'a\\\\b'", "SELECT ?"},
        /* gbk/sjis: 0x95 0x5c is one character */
        {"SELECT '\x95\\' , 'x'", "SELECT <redacted>"},
        {"'unclosed; SELECT 1", "<redacted>"},
        {"SELECT 1; SELECT 'x", "SELECT <redacted>;..."},
    };
    CHECK(table, 1024);
}

Test(sql_redact, output_is_bounded)
{
    char sql[8192], out[PS_SQL_REDACT_MIN];
    strcpy(sql, "SELECT a");
    for (int i = 0; i < 1000; i++)
        strcat(sql, ", col");
    size_t len = ps_sql_redact(sql, strlen(sql), out, sizeof out);
    cr_assert_lt(len, sizeof out);
    cr_assert_eq(strlen(out), len);
    cr_assert_eq(strcmp(out + len - 3, "..."), 0, "%s", out);
    cr_assert_eq(ps_sql_redact(sql, strlen(sql), out, PS_SQL_REDACT_MIN - 1), 0);
    cr_assert_str_eq(out, "");
}
