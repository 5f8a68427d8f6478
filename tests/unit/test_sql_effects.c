/* The statement classifier behind reaping: harmless, replayable, and everything else. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/sql_effects.h"
#include "poolshim/sql_names.h"

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
                                "SET CHARACTER SET utf8",
                                "SET NAMES latin1, autocommit = 0",
                                "USE t2"};
    for (size_t i = 0; i < sizeof replayable / sizeof *replayable; i++)
        cr_assert_eq(fx(replayable[i]), PS_SQL_REPLAYABLE, "'%s' -> %#x", replayable[i],
                     fx(replayable[i]));
}

Test(sql_effects, session_variables_the_shim_reads_back_are_replayable)
{
    const char *variables[] = {
        "SET sql_mode = 'ANSI'", "SET time_zone = '+00:00'", "SET character_set_server = 'utf8mb4'",
        "SET collation_connection = 'utf8mb4_unicode_ci'", "SET SESSION sql_mode = \"ANSI_QUOTES\"",
        "set @@session.WAIT_TIMEOUT := 77",
        "SET LOCAL max_statement_time = 1.5, sql_select_limit = -1",
        "SET character_set_results = NULL", "SET sql_mode = DEFAULT, foreign_key_checks = OFF",
        "SET NAMES utf8mb4, collation_connection = utf8mb4_bin, "
        "autocommit = 0",
        "/* x */ SET tx_isolation = 'READ-COMMITTED'; SET NAMES latin1",
        /* expressions without side effects: read back by value */
        "SET sql_mode = CONCAT(@@sql_mode, ',ANSI')",
        "SET @@SESSION.sql_mode = CONCAT(@@sql_mode, "
        "',NO_AUTO_VALUE_ON_ZERO'), @@SESSION.sql_auto_is_null = 0, "
        "@@SESSION.wait_timeout = 2147483",
        "SET time_zone = IF(@@time_zone = 'SYSTEM', '+00:00', 'SYSTEM')",
        /* the session's transaction characteristics (Django) */
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "set session transaction read only, isolation level serializable",
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE"};
    for (size_t i = 0; i < sizeof variables / sizeof *variables; i++) {
        bool only = false;
        unsigned fx = ps_sql_effects_ex(variables[i], strlen(variables[i]), &only);
        cr_assert_eq(fx, PS_SQL_REPLAYABLE | PS_SQL_VARIABLES, "'%s' -> %#x", variables[i], fx);
        cr_assert(only, "'%s' explains its state change", variables[i]);
    }
    /* the client knows the charset, not the collation, nor does the server's tracker say it */
    cr_assert_eq(fx("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'"),
                 PS_SQL_REPLAYABLE | PS_SQL_VARIABLES | PS_SQL_READ_BACK);
    for (const char *const *v = ps_sql_replayed_variables; *v; v++)
        for (const char *c = *v; *c; c++)
            cr_assert(*c == '_' || (*c >= 'a' && *c <= 'z'), "'%s': a lower-case name", *v);
}

Test(sql_effects, unreplayable_session_state_is_flagged)
{
    const char *session[] = {"SET @u = @u + 1",
                             "SELECT @u := 5",
                             "SELECT 1 INTO @x",
                             "SET sql_mode = CONCAT(@@sql_mode, @x)",
                             "SET sql_mode = CONCAT(@@sql_mode, f())",
                             "SET wait_timeout = (SELECT 5)",
                             "SET wait_timeout = (SELECT MAX(a) FROM t)",
                             "SET lock_wait_timeout = LAST_INSERT_ID(5)",
                             "SET lock_wait_timeout = NEXTVAL(s)",
                             "SET wait_timeout = 5 + (",
                             "SET wait_timeout = ",
                             "SET SESSION TRANSACTION ISOLATION LEVEL CHAOS",
                             "SET SESSION TRANSACTION READ ONLY, @x = 1",
                             "SET GLOBAL TRANSACTION READ ONLY",
                             "SET time_zone = @tz",
                             "SET max_join_size = 1000",
                             "SET GLOBAL sql_mode = 'ANSI'",
                             "SET @@global.time_zone = '+00:00'",
                             "SET sql_mode = 'ANSI', @u = NOW()",
                             "SET wait_timeout = f(1)",
                             "SET time_zone = '+00:00' FOR SELECT 1",
                             "SET autocommit = 0, @u = 1 + 1",
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
                             "SELECT 1; SET @x = 2 -- c",
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

/* ---- issue 9 item 4: ordinary SQL that bypassed the classifier ---------------------------- */

/* Asserts that every NULL-terminated statement of LIST has all the bits of WANT. */
static void expect_bits(const char *const *list, unsigned want)
{
    for (; *list; list++)
        cr_expect_eq(fx(*list) & want, want, "'%s' -> %#x, wanted %#x", *list, fx(*list), want);
}

/* Asserts that every NULL-terminated statement of LIST leaves nothing. */
static void expect_harmless(const char *const *list)
{
    for (; *list; list++)
        cr_expect_eq(fx(*list), 0, "'%s' -> %#x", *list, fx(*list));
}

Test(sql_effects, quoted_function_names_are_still_calls)
{
    const char *locks[] = {"SELECT `GET_LOCK`('jobs',0)",
                           "select `get_lock` ( 'jobs' , 0 )",
                           "SELECT \"GET_LOCK\"('jobs', 0)", /* ANSI_QUOTES */
                           "SELECT 1; SELECT `GET_LOCK`('jobs', 0)",
                           "DO `GET_LOCK`('jobs', 0)",
                           NULL};
    expect_bits(locks, PS_SQL_LOCK);
    /* A quoted name before '(' marks what the bare word would (found by fuzz_sql_effects). */
    cr_expect_eq(fx("SELECT a}utocommit = 0 * GET_\xd9`LOCK`('x', 0)"),
                 PS_SQL_LOCK | PS_SQL_SESSION);
    const char *session[] = {"SELECT `LAST_INSERT_ID`(99)",
                             "SELECT \"LAST_INSERT_ID\"(99)",
                             "SELECT `NEXTVAL`(seq)",
                             "SELECT `now`()",
                             "SELECT `t`.`f`()",
                             "SELECT `t` . `f` ()",
                             NULL};
    expect_bits(session, PS_SQL_SESSION);
}

Test(sql_effects, strings_are_read_under_every_quoting_rule)
{
    /* NO_BACKSLASH_ESCAPES (e.g. from an init command): 'a\' is a whole string there. */
    const char *nbe[] = {"SELECT 'a\\', @v := 5, 'b'", "SELECT 'a\\'; SET @v = 1; SELECT '", NULL};
    expect_bits(nbe, PS_SQL_SESSION);
    cr_expect(fx("SELECT 'it\\', GET_LOCK('jobs', 0), '\\'") & PS_SQL_LOCK);
    /* ANSI_QUOTES: "a\" is an identifier, in which a backslash is a plain character. */
    const char *ansi[] = {"SELECT \"a\\\", @v := 5, \"b\"",
                          "SELECT 1 AS \"a\\\", @v := 5, 2 AS \"b\"",
                          "SELECT 'x', \"a\\\", LAST_INSERT_ID(7), \"b\"",
                          "SELECT 'a\\'' , \"b\\\", @v := 1, \"c\"", NULL};
    expect_bits(ansi, PS_SQL_SESSION);
    /* gbk/big5/sjis: 0x81 0x5C is one character, so that backslash escapes nothing. */
    const char *mb[] = {"SELECT 'x\\'y', '\x81\\', @v:=1, 'z'", "SELECT `\x81`, @v:=1, `x`", NULL};
    expect_bits(mb, PS_SQL_SESSION);
}

Test(sql_effects, calls_of_names_not_proven_builtin_may_run_stored_functions)
{
    const char *session[] = {"SELECT f()",
                             "SELECT t.f(1)",
                             "SELECT my_func(a) FROM items",
                             "SELECT now ()", /* with a space: a stored function t.now */
                             "SELECT now/**/()",
                             "SELECT COUNT (*) FROM items",
                             "SELECT SUBSTRING ('abc', 2)",
                             "SELECT HIGH_PRIORITY f()",
                             "INSERT INTO items SELECT f()",
                             "INSERT INTO items (v) VALUES (f())",
                             "UPDATE items SET v = f(v)",
                             "DELETE FROM items WHERE f(id)",
                             "SELECT * FROM items WHERE id IN (SELECT f())",
                             "CREATE TABLE x AS SELECT f() AS a",
                             "SELECT against(1)",
                             "SELECT 1 /*!50000now()*/",
                             NULL};
    expect_bits(session, PS_SQL_SESSION);
}

Test(sql_effects, comments_and_spaces_between_a_name_and_its_parenthesis)
{
    const char *locks[] = {"SELECT GET_LOCK /* c */ ('x', 0)", "SELECT GET_LOCK\n('x', 0)",
                           "SELECT GET_LOCK#c\n('x', 0)", NULL};
    expect_bits(locks, PS_SQL_LOCK);
    const char *session[] = {"SELECT LAST_INSERT_ID /* c */ (5)", "SELECT LAST_INSERT_ID (5)",
                             "SELECT NEXTVAL /**/ (seq)", NULL};
    expect_bits(session, PS_SQL_SESSION);
}

Test(sql_effects, flush_for_export_and_backup_locks)
{
    const char *locks[] = {"FLUSH TABLES items FOR EXPORT",
                           "flush table t.items, t.other for export",
                           "FLUSH /*!40101 LOCAL */ TABLES items FOR EXPORT",
                           "FLUSH TABLES WITH READ LOCK",
                           "FLUSH TABLES items WITH READ LOCK",
                           "FLUSH TABLES WITH READ LOCK AND DISABLE CHECKPOINT",
                           "BACKUP STAGE START",
                           "BACKUP LOCK items",
                           NULL};
    expect_bits(locks, PS_SQL_LOCK);
}

Test(sql_effects, set_with_anything_but_replayable_values)
{
    cr_expect(fx("SET autocommit = 0 * GET_LOCK('x', 0)") & PS_SQL_LOCK);
    const char *session[] = {"SET autocommit = 0 + f()",
                             "SET autocommit = 1 AND @v := 5",
                             "SET NAMES latin1 COLLATE latin1_bin, autocommit = IF(f(), 0, 0)",
                             "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                             "SET ROLE admin",
                             "SET `autocommit` = 0",
                             "SET autocommit = 0 --;\n, @v = 1",
                             NULL};
    expect_bits(session, PS_SQL_SESSION);
    cr_expect(fx("SET STATEMENT sql_mode='' FOR SELECT GET_LOCK('x', 0)") & PS_SQL_LOCK);
}

Test(sql_effects, siblings_that_already_pinned_stay_pinned)
{
    const char *session[] = {"SELECT 1 /*M!100000 , @v := 1 */",
                             "SELECT 1 INTO @v",
                             "SELECT a FROM items LIMIT 1 INTO @v",
                             "EXECUTE IMMEDIATE 'SET @v = 1'",
                             "CALL p()",
                             "DO RELEASE_LOCK('x')",
                             "HANDLER items OPEN",
                             "XA START 'x'",
                             "PREPARE s FROM 'SELECT 1'",
                             "BEGIN NOT ATOMIC SET @v = 1; END",
                             "BEGIN NOT ATOMIC PREPARE s FROM 'SELECT 1'; END",
                             "SELECT SETVAL(seq, 5)",
                             "SELECT LASTVAL(seq)",
                             "SELECT NEXT VALUE FOR seq",
                             "SELECT PREVIOUS VALUE FOR seq",
                             "LOAD DATA INFILE '/tmp/f' INTO TABLE items (@a) SET v = @a",
                             "CREATE TEMPORARY TABLE t (x INT)",
                             NULL};
    expect_bits(session, PS_SQL_SESSION);
    const char *found[] = {"SELECT /*!40001 SQL_CALC_FOUND_ROWS */ * FROM items",
                           "SELECT/**/SQL_CALC_FOUND_ROWS * FROM items",
                           "select sql_calc_found_rows * from items", NULL};
    expect_bits(found, PS_SQL_FOUND_ROWS);
    cr_expect(fx("SELECT * FROM items LOCK IN SHARE MODE") & PS_SQL_LOCK);
    cr_expect(fx("SELECT 1; lock tables items write") & PS_SQL_LOCK);
}

Test(sql_effects, what_leaves_nothing_stays_reapable)
{
    const char *harmless[] = {
        "INSERT INTO `items` (`v`) VALUES ('x')",
        "INSERT INTO t.items(v) VALUES('x') ON DUPLICATE KEY UPDATE v=VALUES(v)",
        "INSERT IGNORE INTO items (v) SELECT v FROM items WHERE id IN (1, 2)",
        "REPLACE INTO items (id, v) VALUES (1, 'y')",
        "SELECT COUNT(*), NOW(), IFNULL(v, ''), CONCAT(v, 'x') FROM items WHERE id > 0",
        "SELECT IFNULL (v, '') FROM items", /* a native function: spaces allowed */
        "SELECT * FROM items a JOIN items b USING (id) WHERE (a.id = 1) AND (b.id IN (1))",
        "SELECT MATCH (v) AGAINST ('x' IN BOOLEAN MODE) FROM items",
        "SELECT CAST(v AS CHAR(10)), CONVERT(v, DECIMAL(10,2)) FROM items",
        "WITH c(x) AS (SELECT 1) SELECT x FROM c",
        "SELECT EXISTS (SELECT 1), DATE_FORMAT(NOW(), '%Y'), GROUP_CONCAT(v SEPARATOR ',') FROM "
        "items",
        "SELECT IS_USED_LOCK('x'), IS_FREE_LOCK('x'), RELEASE_LOCK('x'), RELEASE_ALL_LOCKS()",
        "SELECT LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), CONNECTION_ID(), DATABASE()",
        "SELECT * FROM items FOR UPDATE", /* autocommit on: released; off: IN_TRANS pins */
        "SAVEPOINT a",
        "RELEASE SAVEPOINT a",
        "BEGIN WORK",
        "LOAD DATA INFILE '/tmp/f' INTO TABLE items (id, v)",
        "CREATE TABLE x (a DECIMAL(10,2), b VARCHAR(64), KEY k (a), CHECK (a > 0))",
        "GRANT SELECT ON t.* TO 'app'@'%'",
        "SELECT 'a\\'b', \"c\\\"d\" FROM items",
        "SELECT 'caf\xc3\xa9', '\\n' FROM items",
        "SELECT `v`, \"v\" FROM `t`.`items`",
        NULL};
    expect_harmless(harmless);
}

Test(sql_effects, text_whose_quoting_depends_on_the_charset_pins)
{
    /* é (0xC3 0xA9) right before a backslash: 0xA9 0x5C would be one character in gbk. */
    cr_expect(fx("SELECT 'caf\xc3\xa9\\n'") & PS_SQL_SESSION);
    cr_expect(fx("SELECT \xa9`x`") & PS_SQL_SESSION);
}

/* Session status counters start afresh in a new session: a program that reads its own keeps
 * its session (issue 9 item 6). Other STATUS statements read nothing of the session. */
Test(sql_effects, reading_the_session_status_counters_pins)
{
    const char *status[] = {"SHOW STATUS",
                            "show session status like 'Com_select'",
                            "SHOW LOCAL STATUS WHERE Variable_name = 'Questions'",
                            "SHOW /*!50000 SESSION */ STATUS",
                            "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS",
                            "SELECT * FROM information_schema.`session_status`",
                            "SELECT * FROM performance_schema.status_by_thread",
                            "SELECT 1; SHOW STATUS LIKE 'Last_query_cost'",
                            NULL};
    expect_bits(status, PS_SQL_SESSION);
    const char *harmless[] = {"SHOW GLOBAL STATUS LIKE 'Threads_connected'",
                              "SHOW TABLE STATUS",
                              "SHOW ENGINE INNODB STATUS",
                              "SHOW MASTER STATUS",
                              "SHOW PROCEDURE STATUS",
                              "SELECT status FROM items",
                              "SELECT * FROM information_schema.GLOBAL_STATUS",
                              NULL};
    expect_harmless(harmless);
}

Test(sql_effects, only_replayable_tells_whether_the_text_explains_a_state_change)
{
    const struct {
        const char *sql;
        bool only;
    } cases[] = {{"SET NAMES latin1", true},
                 {"USE t2; SET autocommit=0", true},
                 {"SET NAMES latin1; SELECT 1", false},
                 {"SELECT 1", false},
                 {"", false},
                 {"SET @v = 1", true},
                 {"SET @v = 1 + 1", false},
                 {"USE t2; SELECT f()", false},
                 {"SET NAMES 'a\\', @v := 1, '", false}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool only = !cases[i].only;
        ps_sql_effects_ex(cases[i].sql, strlen(cases[i].sql), &only);
        cr_expect_eq(only, cases[i].only, "'%s'", cases[i].sql);
    }
}

Test(sql_names, the_table_is_sorted_and_lookups_respect_spacing)
{
    enum ps_sql_call kind;
    bool glued_only;
    const char *prev = ps_sql_known_name(0, &kind, &glued_only);
    cr_assert_not_null(prev);
    for (size_t i = 1; ps_sql_known_name(i, &kind, &glued_only); i++) {
        const char *name = ps_sql_known_name(i, &kind, &glued_only);
        cr_expect_gt(strcmp(name, prev), 0, "'%s' is not after '%s'", name, prev);
        prev = name;
    }
    cr_expect_eq(ps_sql_call_kind("now", 3, true), PS_CALL_HARMLESS);
    cr_expect_eq(ps_sql_call_kind("now", 3, false), PS_CALL_UNKNOWN);
    cr_expect_eq(ps_sql_call_kind("IfNull", 6, false), PS_CALL_HARMLESS);
    cr_expect_eq(ps_sql_call_kind("get_lock", 8, false), PS_CALL_LOCK);
    cr_expect_eq(ps_sql_call_kind("last_insert_id", 14, true), PS_CALL_INSERT_ID);
    cr_expect_eq(ps_sql_call_kind("nextval", 7, true), PS_CALL_SESSION);
    cr_expect_eq(ps_sql_call_kind("my_func", 7, true), PS_CALL_UNKNOWN);
    cr_expect_eq(ps_sql_call_kind("ABS\0X", 5, true), PS_CALL_UNKNOWN);
    cr_expect_eq(ps_sql_call_kind("AB", 2, true), PS_CALL_UNKNOWN);
    cr_expect_eq(ps_sql_call_kind("", 0, true), PS_CALL_UNKNOWN);
}

Test(sql_effects, expressions_that_lock_are_never_replayed)
{
    cr_assert(fx("SET wait_timeout = GET_LOCK('a', 1)") & PS_SQL_LOCK);
    cr_assert(fx("SET wait_timeout = IS_FREE_LOCK('a') + GET_LOCK('a', 1)") & PS_SQL_LOCK);
    cr_assert(fx("SET sql_mode = CONCAT(@@sql_mode, (SELECT GET_LOCK('a', 1)))") & PS_SQL_LOCK);
}

/* The plain-SELECT fast path scans only what differs from the thread's last SELECT it
 * accepted: each pair below sends the first, then the second, whose answer must be the full
 * classifier's. The second differs where a word the first ends with grows into a stop word, a
 * literal ends and a lock or a second statement follows, the text gets shorter, or the head. */
Test(sql_effects, the_last_select_remembered_never_changes_an_answer)
{
    static const char *const pairs[][2] = {
        {"SELECT a FROM t WHERE b = 1 FO", "SELECT a FROM t WHERE b = 1 FOR UPDATE"},
        {"SELECT a, SQL_CALC FROM t", "SELECT a, SQL_CALC_FOUND_ROWS FROM t"},
        {"SELECT a FROM t WHERE b = 1 LOC", "SELECT a FROM t WHERE b = 1 LOCK IN SHARE MODE"},
        {"SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = 1 FOR UPDATE"},
        {"SELECT a FROM t WHERE b = 12", "SELECT a FROM t WHERE b = 1;SET @a = 1"},
        {"SELECT a FROM t WHERE b = 12", "SELECT a FROM t WHERE b = 1"},
        {"SELECT a FROM t WHERE b = 12", "SELECT a FROM t WHERE b = 1 LOCK IN SHARE MODE"},
        {"SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = @x"},
        {"SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = f(1)"},
        {"SELECT a FROM t", "SELECT a FROM t0 INTO OUTFILE '/tmp/x'"},
        {"SELECT NEXT_ FROM t", "SELECT NEXT VALUE FOR s"},
        {"SELECT a FROM t", "SELECT a FROMt"},
        {"SELECT a FROM t", "SELECTa FROM t"},
        {"SELECT a FROM t", "DO GET_LOCK('x', 0)"},
        {"  SELECT a FROM t", "  SELECT SQL_CALC_FOUND_ROWS a FROM t"},
        {"SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = 1\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        bool only, full_only;
        cr_assert_eq(ps_sql_effects(pairs[i][0], strlen(pairs[i][0])), 0, "%s", pairs[i][0]);
        const char *sql = pairs[i][1];
        unsigned fx = ps_sql_effects_ex(sql, strlen(sql), &only);
        unsigned full = ps_sql_effects_full(sql, strlen(sql), &full_only);
        cr_assert_eq(fx, full, "after '%s': '%s' reads %#x, the full classifier %#x", pairs[i][0],
                     sql, fx, full);
        cr_assert_eq(only, full_only, "%s", sql);
    }
}

/* ---- user variables set to literals (issue 10) ------------------------------------------- */

/* The assignments ps_sql_user_literals reports, as "name=text[!]|..." ('!': charset-bound). */
static void collect(void *ctx, const ps_sql_literal *a)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%.*s=%.*s%s|", (int)a->name_len, a->name, (int)a->text_len, a->text,
             a->charset_bound ? "!" : "");
}

static const char *literals(const char *sql)
{
    static char out[512];
    out[0] = '\0';
    if (!ps_sql_user_literals(sql, strlen(sql), collect, out))
        return "(pinned)";
    return out;
}

Test(sql_effects, user_variables_set_to_literals_are_replayable)
{
    const struct {
        const char *sql, *kept;
    } cases[] = {
        {"SET @a = 1", "a=@a = 1|"},
        {"set @a:=-7.25e-3 , @B = 'x''y'", "a=@a:=-7.25e-3|B=@B = 'x''y'!|"},
        {"SET @a = _latin1 'caf' COLLATE latin1_bin", "a=@a = _latin1 'caf' COLLATE latin1_bin!|"},
        {"SET @a = X'4142', @b = b'101', @c = 0x1F, @d = 0b11", "a=@a = X'4142'|b=@b = b'101'|"
                                                                "c=@c = 0x1F|d=@d = 0b11|"},
        {"SET @a = NULL, @b = TRUE, @c = 1.", "a=@a = NULL|b=@b = TRUE|c=@c = 1.|"},
        {"SET autocommit = 0, @a = 'x', NAMES latin1", "a=@a = 'x'!|"},
        {"SELECT 1; SET @a = 2;", "a=@a = 2|"},
        {"SET @a = 1; SET @a = 2", "a=@a = 1|a=@a = 2|"},
        {"SET @a = '\xc3\xa9'", "a=@a = '\xc3\xa9'!|"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned e = fx(cases[i].sql);
        cr_expect_eq(e & ~PS_SQL_REPLAYED, 0, "'%s' -> %#x", cases[i].sql, e);
        cr_expect(e & PS_SQL_USER_VARIABLES, "'%s' -> %#x", cases[i].sql, e);
        cr_expect_str_eq(literals(cases[i].sql), cases[i].kept, "'%s'", cases[i].sql);
    }
}

Test(sql_effects, anything_else_that_sets_a_user_variable_still_pins)
{
    const char *session[] = {"SET @a = @a + 1",
                             "SET @a = NOW()",
                             "SET @a = 1 + 1",
                             "SET @a = (SELECT 1)",
                             "SET @a = 'x' 'y'",
                             "SET @a = 'a\\'b'",
                             "SET @a = 1 /* c */",
                             "SET @a = 1 -- c",
                             "SET @a = 1 # c",
                             "/*!99999 SET @a = 1 */",
                             "SET @`a` = 1",
                             "SET @'a' = 1",
                             "SET @a.b = 1",
                             "SET @a = \"x\"",
                             "SET @a = 1e",
                             "SET @a = 1x",
                             "SET @a = 0x1G",
                             "SET @a = X '41'",
                             "SET @a = DEFAULT",
                             "SET @a = - 1",
                             "SET @a : = 1",
                             "SET @a = 'x' COLLATE",
                             "SET @a = 1, @b = f()",
                             "SET @a = 1 FOR SELECT 1",
                             "SET STATEMENT @a = 1 FOR SELECT 1",
                             "SELECT @a := 1",
                             "SELECT 1 INTO @a",
                             "CALL p(@a)",
                             "SET @a = '\x81\\'",
                             NULL};
    expect_bits(session, PS_SQL_SESSION);
    for (const char *const *s = session; *s; s++)
        cr_expect_str_eq(literals(*s), "(pinned)", "'%s'", *s);
    cr_expect_str_eq(literals("SELECT 1"), "(pinned)");
    cr_expect_str_eq(literals("SET NAMES latin1"), "(pinned)");
}

Test(sql_effects, reading_a_user_variable_leaves_nothing)
{
    const char *reads[] = {"SELECT @a",
                           "SELECT @a, @b + 1 FROM t WHERE x = @c",
                           "SELECT @a = 1",
                           "INSERT INTO t VALUES (@a, @`b`, @'c')",
                           "UPDATE t SET x = @a WHERE y = @a.b",
                           "SELECT @a IS NULL",
                           NULL};
    for (const char *const *r = reads; *r; r++)
        cr_expect_eq(fx(*r), 0, "'%s' -> %#x", *r, fx(*r));
    const char *writes[] = {"SELECT @a := 1",
                            "SELECT @a:=1",
                            "SELECT @a /* c */ := 1",
                            "SELECT @`a` := 1",
                            "SELECT @a.b := 1",
                            "SELECT 1 INTO @a",
                            "SELECT 1 INTO @a, @b",
                            "SELECT x FROM t INTO @a",
                            "LOAD DATA INFILE 'f' INTO TABLE t (x, @a) SET y = @a",
                            "SELECT @ a",
                            "SELECT @",
                            "SELECT @(1)",
                            "UPDATE t SET x = (@a := x + 1)",
                            NULL};
    expect_bits(writes, PS_SQL_SESSION);
}

/* ---- the fast path against the full classifier, after any last statement (issue 10) ----- */

/* ps_sql_effects_ex of an exact-size heap copy of SQL[0..LEN) (ASan sees any read past it),
 * asserted equal to ps_sql_effects_full's answer; COUNTS[0] counts the statements, COUNTS[1]
 * the 0 answers. */
static void same_answer(const char *sql, size_t len, unsigned counts[2])
{
    char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, sql, len);
    bool only, full_only;
    unsigned got = ps_sql_effects_ex(copy, len, &only);
    unsigned want = ps_sql_effects_full(copy, len, &full_only);
    if (got != want || only != full_only)
        cr_assert_fail("'%.*s' (%zu bytes) reads %#x/%d, the full classifier %#x/%d", (int)len, sql,
                       len, got, only, want, full_only);
    counts[0]++;
    counts[1] += got == 0;
    free(copy);
}

/* SELECTs: plain ones (the fast path accepts each alone), one of them around the memory's
 * size, and ones a stop word, a call, a variable or a second statement keeps from it, so that a
 * memory cut inside them ends inside those. */
static const char *const fast_bases[] = {
    "SELECT v FROM bench_items WHERE id = 1",
    "  select a, b FROM t1 WHERE c = 'x' AND d = 12",
    "SELECT\ta\nFROM t WHERE x = 0x1F OR y = 1.5e3",
    "SELECT * FROM t WHERE name = 'NEXT' ORDER BY id LIMIT 10 OFFSET 20",
    "SELECT 1",
    "SELECT c_0, c_1, c_2, c_3, c_4, c_5, c_6, c_7, c_8, c_9, c_10, c_11, c_12, c_13, c_14, "
    "c_15, c_16, c_17, c_18, c_19, c_20, c_21, c_22, c_23, c_24, c_25, c_26, c_27, c_28, c_29, "
    "c_30, c_31, c_32, c_33, c_34, c_35 FROM wide_table_name WHERE an_id = 123456789",
    "SELECT SQL_CALC_FOUND_ROWS a FROM t WHERE id = 1",
    "SELECT a FROM t WHERE id = 12 LOCK IN SHARE MODE",
    "SELECT NEXT VALUE FOR s, PREVIOUS VALUE FOR s",
    "SELECT a FROM t WHERE b = 1 INTO @x",
    "SELECT v FROM information_schema.SESSION_STATUS WHERE n = 1",
    "SELECT a FROM t WHERE b = 1; SET @a = 2",
    "SELECT a FROM t WHERE b = GET_LOCK('x', 1)",
    "SELECT a FROM t WHERE b = 'caf\xc3\xa9' /* x */ -- y",
};

/* What replaces or is inserted at a cut: numbers, stop words (whole, cut, glued to other word
 * bytes), every byte class the fast path stops at, comments, quotes, non-ASCII bytes. */
static const char *const fast_pieces[] = {
    "1",
    "12345",
    " ",
    "\t",
    "\n",
    "FO",
    "R UPDATE",
    "FOR UPDATE",
    " FOR UPDATE",
    "LOC",
    "K IN SHARE MODE",
    " LOCK IN SHARE MODE",
    "@a",
    "@@x",
    ";",
    "; SET @a = 1",
    "(1)",
    "f(1)",
    "/* c */",
    "/*!50000 FOR UPDATE */",
    "-- x",
    "# c",
    "'s'",
    "'it''s'",
    "\"d\"",
    "`x`",
    "\\",
    "\xc3\xa9",
    "\x80",
    "\x7f",
    "\x01",
    "?",
    "{",
    "[",
    "INTO",
    " INTO OUTFILE 'x'",
    "NEXT VALUE FOR s",
    "NEXTVAL",
    "SQL_CALC_FOUND_ROWS",
    "SQL_CALC",
    "_FOUND_ROWS",
    "_FOR",
    "$x",
    "1FOR",
    "FOR1",
    "SESSION_STATUS",
    "STATUS_BY_THREAD",
    "GET_LOCK",
    " TEMPORARY",
    "PREVIOUS VALUE FOR s",
    "SETVAL",
    "LASTVAL",
    "EXPORT",
    "VALUE",
    "forx",
    "for",
    "Lock",
};

/* A next pseudo-random number (xorshift: the same sequence on every run). */
static uint32_t fast_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* One random edit of S[0..*LEN) in place (S holds 1024 bytes): a byte replaced, a piece
 * inserted, the tail cut, or digits appended. */
static void fast_edit(char *s, size_t *len, uint32_t *state)
{
    static const char alphabet[] = "0123456789 ,.'\"-=()@;#/*`\\_$ForUuPDATElockINSx\xc3\xa9\x80";
    size_t at = *len ? fast_random(state) % (*len + 1) : 0;
    const char *piece =
        fast_pieces[fast_random(state) % (sizeof fast_pieces / sizeof *fast_pieces)];
    size_t n = strlen(piece);
    switch (fast_random(state) % 4) {
    case 0:
        if (at < *len)
            s[at] = alphabet[fast_random(state) % (sizeof alphabet - 1)];
        break;
    case 1:
        if (*len + n < 1024) {
            memmove(s + at + n, s + at, *len - at);
            memcpy(s + at, piece, n);
            *len += n;
        }
        break;
    case 2:
        *len = at;
        break;
    default:
        *len += (size_t)snprintf(s + *len, 1024 - *len, "%u", fast_random(state) % 100000);
    }
}

/* same_answer of SQL[0..LEN) right after a statement whose head differs from it: a plain SELECT
 * is then scanned whole, and becomes the fast path's memory. */
static void after_another(const char *sql, size_t len, unsigned counts[2])
{
    same_answer("\vSELECT 0", 9, counts);
    same_answer(sql, len, counts);
}

/* Each base cut at every byte and completed by each piece (the piece in place of the rest, or
 * inserted before it), right after the base itself, or the base cut there with a number, became
 * the fast path's memory; the inserted one twice (the second long scan rewrites the memory),
 * then the base. Then random edits, each statement after the one it was made from. Every answer
 * is the full classifier's. */
Test(sql_effects, the_fast_path_agrees_with_the_full_classifier_after_any_statement)
{
    char s[1024], prime[1024];
    unsigned counts[2] = {0, 0};
    for (size_t b = 0; b < sizeof fast_bases / sizeof *fast_bases; b++) {
        const char *base = fast_bases[b];
        size_t len = strlen(base);
        for (size_t cut = 0; cut <= len; cut++) {
            after_another(base, cut, counts); /* the memory may end inside a word of BASE */
            same_answer(base, len, counts);
            for (size_t p = 0; p < sizeof fast_pieces / sizeof *fast_pieces; p++) {
                size_t n = strlen(fast_pieces[p]);
                int primed = snprintf(prime, sizeof prime, "%.*s%u", (int)cut, base, (unsigned)p);
                after_another(prime, (size_t)primed, counts);
                memcpy(s, base, cut);
                memcpy(s + cut, fast_pieces[p], n);
                same_answer(s, cut + n, counts); /* in place of the rest */
                after_another(base, len, counts);
                memcpy(s + cut + n, base + cut, len - cut);
                same_answer(s, len + n, counts); /* inserted */
                same_answer(s, len + n, counts);
                same_answer(base, len, counts);
            }
        }
    }
    uint32_t state = 2463534242u;
    for (int walk = 0; walk < 400; walk++) {
        const char *base = fast_bases[walk % (sizeof fast_bases / sizeof *fast_bases)];
        size_t len = strlen(base);
        memcpy(s, base, len);
        for (int step = 0; step < 50; step++) {
            fast_edit(s, &len, &state);
            same_answer(s, len, counts);
        }
    }
    /* the fast path was asked, and said 0, often enough to matter */
    cr_log_info("%u of %u statements were plain", counts[1], counts[0]);
    cr_assert_gt(counts[1], counts[0] / 10, "%u of %u statements were plain", counts[1], counts[0]);
}

/* The memory holds the statement it was made from, byte for byte, up to its last word: written
 * whole (the first sequence: the S it ends with overwrites an earlier statement's Q), or
 * rewritten from where a statement differs from it after a second long scan in a row (the
 * second: the X overwrites the S). The last statement of each differs from the memory there,
 * and only there: a stale byte would make it look plain. */
Test(sql_effects, the_memory_holds_the_statement_it_was_made_from)
{
    static const char *const sequences[][5] = {
        {"SELECT a, SQL_CALC 1", "\vSELECT 0", "SELECT a, S 1",
         "SELECT a, SQL_CALC_FOUND_ROWS FROM t"},
        {"\vSELECT 0", "SELECT a, S ", "SELECT a, XQL_CALC_FOUND_ROWS FROM t WHERE id = 1",
         "SELECT a, XQL_CALC_FOUND_ROWS FROM t WHERE id = 1",
         "SELECT a, SQL_CALC_FOUND_ROWS FROM t WHERE id = 1"},
    };
    for (size_t i = 0; i < sizeof sequences / sizeof *sequences; i++) {
        unsigned counts[2] = {0, 0};
        for (size_t j = 0; j < 5 && sequences[i][j]; j++)
            same_answer(sequences[i][j], strlen(sequences[i][j]), counts);
        cr_assert_eq(counts[1], counts[0] - 1, "every statement but the last is plain");
    }
}
