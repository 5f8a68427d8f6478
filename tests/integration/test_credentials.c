/* Credentials revoked while a pooled connection is parked (issue 9, item 1): ALTER USER (new
 * password), DROP USER, ACCOUNT LOCK, PASSWORD EXPIRE and REVOKE on the DSN's database. A
 * connect that starts longer than POOLSHIM_REVERIFY_MS after the revocation must see exactly
 * what the program sees without the shim (the server's error, or for an expired password a
 * session whose statements fail with 1820), and nothing may run as the revoked user. Each
 * test uses users of its own (tests/apps/revoke_probe.c makes the revocation). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

static const char *const cases[] = {"alter", "drop", "lock", "expire", "revoke"};
#define NCASES (sizeof cases / sizeof *cases)

/* What the first connect after each revocation gets without the shim (measured, 10.11). */
static const char *const unshimmed_errno[] = {"1045", "1045", "4151", "0", "1044"};

/* (Re)creates user U@localhost, password 'pw', all privileges on PSTEST_DB, and deletes the
 * rows a previous run inserted as U. */
static void make_user(const char *u)
{
    const char *db = pstest_env("PSTEST_DB");
    MYSQL *a = pstest_admin();
    pstest_exec(a, "DROP USER IF EXISTS '%s'@'localhost'", u);
    pstest_exec(a, "CREATE USER '%s'@'localhost' IDENTIFIED BY 'pw'", u);
    pstest_exec(a, "GRANT ALL ON %s.* TO '%s'@'localhost'", db, u);
    pstest_exec(a, "DELETE FROM %s.items WHERE v IN ('after:%s', 'held:%s')", db, u, u);
    mysql_close(a);
}

/* Rows inserted as U after its revocation (by revoke_probe: 'after:U'). */
static long long rows_after(const char *u)
{
    MYSQL *a = pstest_admin();
    long long n = pstest_query_ll(a, "SELECT COUNT(*) FROM %s.items WHERE v = 'after:%s'",
                                  pstest_env("PSTEST_DB"), u);
    mysql_close(a);
    return n;
}

/* The text after KEY= in the shim's exit summary of U's pool (stderr of R). */
static const char *summary_field(const pstest_result *r, const char *u, const char *key)
{
    char label[128], pat[64];
    snprintf(label, sizeof label, "[%s@", u);
    snprintf(pat, sizeof pat, " %s=", key);
    for (const char *line = r->err; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *l = strstr(line, label), *s = strstr(line, "] summary:"),
                   *v = strstr(line, pat);
        if (l && s && v && (size_t)(l - line) < len && (size_t)(s - line) < len &&
            (size_t)(v - line) < len)
            return v + strlen(pat);
        line += len + (end != NULL);
    }
    cr_assert_fail("no summary with%s for %s in:\n%s", pat, u, r->err);
    return "";
}

/* The number after KEY= in that summary. */
static long long summary_value(const pstest_result *r, const char *u, const char *key)
{
    return atoll(summary_field(r, u, key));
}

/* The refusals of that summary's "reauths=N/M refused". */
static long long summary_refusals(const pstest_result *r, const char *u)
{
    const char *slash = strchr(summary_field(r, u, "reauths"), '/');
    cr_assert_not_null(slash, "%s", r->err);
    return atoll(slash + 1);
}

/* Runs revoke_probe with ARGS (after --user U --case C) for user U, first without the shim
 * and then with it (ENV added), each time on a freshly made user; asserts both exit 0 and
 * print the same, and returns the shimmed run. */
static pstest_result same_as_without_shim(const char *u, const char *c, const char *const args[],
                                          const char *const env[])
{
    const char *argv[16] = {"revoke_probe", "--user", u, "--case", c};
    size_t n = 5;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    make_user(u);
    pstest_result without = pstest_run(argv, NULL, false);
    pstest_assert_ok(&without, "revoke_probe without the shim");
    make_user(u);
    pstest_result with = pstest_run(argv, env, true);
    pstest_assert_ok(&with, "revoke_probe with the shim");
    cr_assert_str_eq(with.out, without.out, "%s: with the shim:\n%s\nwithout:\n%s", c, with.out,
                     without.out);
    pstest_result_free(&without);
    return with;
}

/* For every revocation: the first connect after it (REVERIFY_MS, after sleeping SLEEP_MS) and
 * the AFTER - 1 connects that follow get what they get without the shim; the key was
 * re-verified, the server refused it, and nothing ran as the revoked user. */
static void every_revocation(const char *prefix, const char *reverify_ms, const char *sleep_ms)
{
    char env_reverify[64];
    snprintf(env_reverify, sizeof env_reverify, "POOLSHIM_REVERIFY_MS=%s", reverify_ms);
    const char *env[] = {env_reverify, "POOLSHIM_LOG_LEVEL=info", NULL};
    const char *args[] = {"--sleep-ms", sleep_ms, "--after", "5", NULL};
    for (size_t i = 0; i < NCASES; i++) {
        char u[64];
        snprintf(u, sizeof u, "%s_%s", prefix, cases[i]);
        pstest_result r = same_as_without_shim(u, cases[i], args, env);
        cr_assert_str_eq(pstest_line_value(r.out, "errno"), unshimmed_errno[i], "%s: %s", cases[i],
                         r.out);
        cr_assert_eq(pstest_value_ll(&r, "selects_ok"), 0, "%s: ran as the revoked user:\n%s",
                     cases[i], r.out);
        cr_assert_eq(pstest_value_ll(&r, "inserts_ok"), 0, "%s: %s", cases[i], r.out);
        cr_assert_eq(rows_after(u), 0, "%s: a row was inserted as the revoked user", cases[i]);
        cr_assert_geq(summary_value(&r, u, "reauths"), 1, "%s: never re-verified", cases[i]);
        cr_assert_geq(summary_refusals(&r, u), 1, "%s: no refused re-verification\n%s", cases[i],
                      r.err);
        pstest_result_free(&r);
    }
}

Test(revoked, every_revocation_refuses_the_very_first_connect_with_a_zero_window)
{
    every_revocation("cred0", "0", "0");
}

Test(revoked, every_revocation_refuses_the_first_connect_after_the_window)
{
    every_revocation("cred200", "200", "300");
}

Test(revoked, the_default_window_refuses_the_first_connect_a_second_later)
{
    const char *env[] = {"POOLSHIM_LOG_LEVEL=info", NULL};
    const char *args[] = {"--sleep-ms", "1200", "--after", "2", NULL};
    pstest_result r = same_as_without_shim("credd_alter", "alter", args, env);
    cr_assert_str_eq(pstest_line_value(r.out, "errno"), "1045", "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "connects_ok"), 0, "%s", r.out);
    pstest_result_free(&r);
}

/* A handle the program never closed is reaped, its credentials are revoked, and its next
 * command renews it: without the shim its session would have survived the revocation (the
 * server ends no session for ALTER USER, DROP USER, ACCOUNT LOCK, PASSWORD EXPIRE or REVOKE),
 * so the renewal takes a parked connection without re-verifying. */
Test(revoked, a_reaped_handle_keeps_its_session_as_it_would_without_the_shim)
{
    const char *env[] = {"POOLSHIM_REAP_IDLE_MS=100", "POOLSHIM_LOG_LEVEL=info", NULL};
    const char *args[] = {"--held", "--sleep-ms", "300", NULL};
    for (size_t i = 0; i < NCASES; i++) {
        char u[64];
        snprintf(u, sizeof u, "credh_%s", cases[i]);
        pstest_result r = same_as_without_shim(u, cases[i], args, env);
        cr_assert(!strncmp(pstest_line_value(r.out, "held_select"), "ok ", 3), "%s: %s", cases[i],
                  r.out);
        cr_assert_eq(summary_value(&r, u, "renewed"), 1, "%s: not reaped and renewed\n%s", cases[i],
                     r.err);
        cr_assert_eq(summary_value(&r, u, "reauths"), 0, "%s: a renewal re-verified\n%s", cases[i],
                     r.err);
        pstest_result_free(&r);
    }
}

/* Runs connect_loop --n 200 under the shim with ENV; *DELTA gets the growth of Connections. */
static pstest_result loop_200(const char *const env[], long long *delta)
{
    const char *argv[] = {"connect_loop", "--n", "200", NULL};
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_result r = pstest_run(argv, env, true);
    *delta = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    pstest_assert_ok(&r, "connect_loop");
    cr_assert_eq(pstest_value_ll(&r, "requests"), 200, "%s", r.out);
    return r;
}

Test(pooling, re_verification_keeps_connections_pooled)
{
    const char *user = pstest_env("PSTEST_USER");
    long long delta;
    const char *dflt[] = {"POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result r = loop_200(dflt, &delta);
    cr_assert_leq(delta, 2, "Connections grew by %lld for 200 requests", delta);
    long long reuses = summary_value(&r, user, "reuses"),
              reauths = summary_value(&r, user, "reauths");
    cr_assert_eq(reuses, 199, "%s", r.err);
    cr_assert_geq(reauths, 1, "the key was never re-verified\n%s", r.err);
    cr_assert_lt(reauths, reuses, "every reuse re-verified with the default window\n%s", r.err);
    pstest_result_free(&r);

    const char *every[] = {"POOLSHIM_REVERIFY_MS=0", "POOLSHIM_LOG_LEVEL=info", NULL};
    r = loop_200(every, &delta);
    cr_assert_leq(delta, 2, "Connections grew by %lld for 200 requests", delta);
    cr_assert_eq(summary_value(&r, user, "reuses"), 199, "%s", r.err);
    cr_assert_eq(summary_value(&r, user, "reauths"), 199, "%s", r.err);
    pstest_result_free(&r);
}
