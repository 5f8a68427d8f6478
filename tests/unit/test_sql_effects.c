/* The statement classifier behind reaping: harmless, replayable, and everything else. */
#include <criterion/criterion.h>
#include <string.h>

#include "poolshim/sql_effects.h"

/* Effects of the NUL-terminated SQL. */
static unsigned fx(const char *sql)
{
    return ps_sql_effects(sql, strlen(sql));
}

Test(sql_effects, plain_reads_writes_and_transactions_leave_nothing)
{
    const char *harmless[] = {"SELECT 1",
                              "select * from items where v = 'a@b.c'",
                              "SELECT @@version, @@session.sql_mode",
                              "INSERT INTO items (v) VALUES ('x; SET @y=1')",
                              "UPDATE items SET v = 'z' WHERE id = 3",
                              "DELETE FROM items",
                              "BEGIN",
                              "COMMIT",
                              "ROLLBACK",
                              "CREATE TABLE x (a INT)",
                              "SHOW WARNINGS",
                              "  /* comment @x */ SELECT 1 -- trailing @y\n",
                              "# hash comment @z\nSELECT 2",
                              "(SELECT 1) UNION (SELECT 2)",
                              "SELECT LAST_INSERT_ID()",
                              "SELECT `LOCK` FROM t",
                              "UNLOCK TABLES",
                              "",
                              ";;"};
    for (size_t i = 0; i < sizeof harmless / sizeof *harmless; i++)
        cr_assert_eq(fx(harmless[i]), 0, "'%s' -> %#x", harmless[i], fx(harmless[i]));
}

Test(sql_effects, replayable_state_is_recognised)
{
    const char *replayable[] = {"SET autocommit=0",
                                "set AUTOCOMMIT = 1",
                                "SET @@autocommit := OFF",
                                "SET SESSION autocommit = ON",
                                "SET @@session.autocommit=0",
                                "SET NAMES latin1",
                                "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'",
                                "SET CHARACTER SET utf8",
                                "SET NAMES latin1, autocommit = 0",
                                "USE t2"};
    for (size_t i = 0; i < sizeof replayable / sizeof *replayable; i++)
        cr_assert_eq(fx(replayable[i]), PS_SQL_REPLAYABLE, "'%s' -> %#x", replayable[i],
                     fx(replayable[i]));
}

Test(sql_effects, unreplayable_session_state_is_flagged)
{
    const char *session[] = {"SET @u = 1",
                             "SELECT @u := 5",
                             "SELECT 1 INTO @x",
                             "SET sql_mode = 'ANSI'",
                             "SET time_zone = '+00:00'",
                             "SET autocommit = 0, @u = 1",
                             "SET autocommit = @v",
                             "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                             "CREATE TEMPORARY TABLE t (x INT)",
                             "PREPARE s FROM 'SELECT 1'",
                             "EXECUTE s",
                             "CALL proc()",
                             "HANDLER items OPEN",
                             "XA START 'x'",
                             "SELECT NEXTVAL(seq)",
                             "SELECT NEXT VALUE FOR seq",
                             "SELECT LAST_INSERT_ID(42)",
                             "DO 1",
                             "SELECT 1; SET @x = 2",
                             "/*!40101 SET @old = @@sql_mode */",
                             "SELECT 1 /*!50000 , @x := 1 */"};
    for (size_t i = 0; i < sizeof session / sizeof *session; i++)
        cr_assert(fx(session[i]) & PS_SQL_SESSION, "'%s' -> %#x", session[i], fx(session[i]));
}

Test(sql_effects, locks_and_found_rows_are_flagged)
{
    cr_assert(fx("LOCK TABLES items WRITE") & PS_SQL_LOCK);
    cr_assert(fx("lock table items read") & PS_SQL_LOCK);
    cr_assert(fx("SELECT GET_LOCK('x', 0)") & PS_SQL_LOCK);
    cr_assert(fx("FLUSH TABLES WITH READ LOCK") & PS_SQL_LOCK);
    cr_assert(fx("SELECT * FROM items LOCK IN SHARE MODE") & PS_SQL_LOCK);
    cr_assert(fx("SELECT SQL_CALC_FOUND_ROWS * FROM items LIMIT 1") & PS_SQL_FOUND_ROWS);
    cr_assert_str_neq(ps_sql_effect_reason(PS_SQL_LOCK), "");
    cr_assert_str_eq(ps_sql_effect_reason(0), "");
}

Test(sql_effects, state_the_reset_keeps_is_flagged)
{
    const struct {
        const char *sql;
        unsigned bit;
    } cases[] = {
        {"SET ROLE r1", PS_SQL_ROLE},
        {"set role NONE", PS_SQL_ROLE},
        {"SET ROLE `weird``name`", PS_SQL_ROLE},
        {"CALL p()", PS_SQL_ROLE},
        {"EXECUTE s", PS_SQL_ROLE},
        {"EXECUTE IMMEDIATE 'SET ROLE r1'", PS_SQL_ROLE},
        {"SET STATEMENT max_statement_time = 1 FOR CALL p()", PS_SQL_ROLE},
        {"SET DEFAULT ROLE r1", PS_SQL_DEFAULT_ROLE},
        {"SET DEFAULT ROLE NONE FOR 'u'@'%'", PS_SQL_DEFAULT_ROLE},
        {"SET profiling = 1", PS_SQL_PROFILING},
        {"SET @@session.profiling = 1", PS_SQL_PROFILING},
        {"SET autocommit = 1, profiling_history_size = 0", PS_SQL_PROFILING},
        {"SET STATEMENT profiling = 1 FOR SELECT 1", PS_SQL_PROFILING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned e = fx(cases[i].sql);
        cr_assert_eq(e & PS_SQL_RESET_KEEPS, cases[i].bit, "'%s' -> %#x", cases[i].sql, e);
        cr_assert(e & PS_SQL_SESSION, "'%s' -> %#x", cases[i].sql, e);
    }
    const char *not_kept[] = {"SET @role = 1",        "SELECT CURRENT_ROLE()",
                              "SET NAMES latin1",     "SET default_week_format = 1",
                              "SELECT 'SET ROLE r1'", "PREPARE s FROM 'SET ROLE r1'"};
    for (size_t i = 0; i < sizeof not_kept / sizeof *not_kept; i++)
        cr_assert_eq(fx(not_kept[i]) & PS_SQL_RESET_KEEPS, 0, "'%s'", not_kept[i]);
    cr_assert_str_neq(ps_sql_effect_reason(PS_SQL_ROLE), "");
}

Test(sql_effects, never_reads_past_the_length)
{
    /* Unterminated strings and comments, and a length shorter than the text. */
    cr_assert_eq(fx("SELECT 'unterminated"), 0);
    cr_assert_eq(fx("SELECT 1 /* unterminated"), 0);
    cr_assert_eq(ps_sql_effects("SELECT 1; SET @x = 1", 8), 0);
    cr_assert_eq(ps_sql_effects("SET @", 4) & PS_SQL_SESSION, PS_SQL_SESSION);
    char odd[] = {'S', 'E', 'L', 'E', 'C', 'T', ' ', '\'', '\\'};
    cr_assert_eq(ps_sql_effects(odd, sizeof odd), 0);
}
