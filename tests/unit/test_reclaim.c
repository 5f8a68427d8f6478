/* The core's flows through the client-ops seam, with a fake client layer (no library, no
 * server): connect through the pool, reap at the cap, renew a reaped handle at its next
 * command with what the reap read (and fail it cleanly when the replay fails: a husk that
 * tries again when the connection was lost under it, a broken one when the server refused the
 * session), never reap a dirty session, fail with the cap's error after the wait, take over a
 * handle inherited across fork, and refuse to move a dirty inherited session. Pool and lease
 * invariants are checked after every test. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/acquire.h"
#include "poolshim/calls.h"
#include "poolshim/config.h"
#include "poolshim/fork.h"
#include "poolshim/lease.h"
#include "poolshim/reap.h"
#include "poolshim/sql_effects.h"

/* A fake handle: a transport (the "connection") or none (unconnected, husk). */
typedef struct fake {
    void *transport;
    const char *unreapable;
    int failure;     /* 1 + the last ps_failure set, or 100 for set_error */
    bool reconnects; /* the program's reconnect option */
} fake;

static int connects, closes, abandons, renews, resets, reauths;
static bool connect_ok = true;
static enum ps_reauth reauth_result = PS_REAUTH_OK;
static int next_transport;

static fake *new_fake(void *transport)
{
    fake *f = calloc(1, sizeof *f);
    f->transport = transport;
    return f;
}

static void *f_transport(void *h)
{
    return ((fake *)h)->transport;
}

static void *f_connect_parked(void *h, const ps_connect_args *a)
{
    (void)a;
    if (!connect_ok) {
        ((fake *)h)->failure = 100;
        return NULL;
    }
    connects++;
    return new_fake((void *)(intptr_t)++next_transport);
}

static void f_adopt(void *app, ps_conn *c)
{
    fake *p = c->handle;
    ((fake *)app)->transport = p->transport;
    free(p);
    c->handle = app;
}

static void *f_husk(void *h, void *saved, char **info)
{
    (void)saved;
    fake *p = new_fake(((fake *)h)->transport);
    ((fake *)h)->transport = NULL;
    *info = NULL;
    return p;
}

static enum ps_replay renew_result = PS_REPLAY_DONE;
static ps_replay_values renewed_with; /* the values of the last renewal */
static char renewed_variables[64];    /* its session variables' statement ("": none) */

static enum ps_replay f_renew(void *h, ps_conn *c, const ps_replay_values *v, const char *variables,
                              const char *user_variables)
{
    (void)user_variables;
    renews++;
    renewed_with = *v;
    snprintf(renewed_variables, sizeof renewed_variables, "%s", variables ? variables : "");
    f_adopt(h, c);
    return renew_result;
}

static bool f_reconnects(void *h)
{
    return ((fake *)h)->reconnects;
}

static enum ps_reauth f_reauthenticate(void *app, ps_conn *c, ps_connect_error *e)
{
    (void)app, (void)c;
    reauths++;
    e->code = 1045;
    return reauth_result;
}

static void f_close(void *p)
{
    closes++;
    free(p);
}

static void f_abandon(void *p)
{
    abandons++;
    free(p);
}

static void f_fail(void *h, enum ps_failure failure, const char *detail)
{
    (void)detail;
    ((fake *)h)->failure = 1 + (int)failure;
}

static void f_set_error(void *h, unsigned e, const char *s, const char *m)
{
    (void)e, (void)s, (void)m;
    ((fake *)h)->failure = 100;
}

static const char *f_unreapable(void *h, enum ps_hold *hold)
{
    *hold = PS_HOLD_TRANSACTION;
    return ((fake *)h)->unreapable;
}

static unsigned reset_lasting; /* the LASTING bits of the last reset */

static enum ps_reset f_reset(void *h, ps_conn *c, unsigned lasting, bool may_defer)
{
    (void)h, (void)c, (void)may_defer;
    resets++;
    reset_lasting = lasting;
    return PS_RESET_SENT;
}

static const char *f_null(void *h)
{
    (void)h;
    return NULL;
}

static bool f_true(void *h)
{
    (void)h;
    return true;
}

static bool f_false(void *h)
{
    (void)h;
    return false;
}

static void *f_record(void *h)
{
    (void)h;
    return malloc(1);
}

static bool f_no_input(void *h, bool answers_expected)
{
    (void)h, (void)answers_expected;
    return false;
}

static bool f_unreachable(void *h, ps_connect_error *e)
{
    (void)h, (void)e;
    return false;
}

static void *f_saved(void *h)
{
    return h;
}

static ps_replay_values server_values = {7, 3, -1, true}; /* what the "server" says at a reap */

static int variables_reads; /* reaps that read the session variables too */

static bool f_read_values(void *h, ps_replay_values *v, char **variables)
{
    (void)h;
    *v = server_values;
    if (variables) {
        variables_reads++;
        *variables = strdup("SET sql_mode = ''");
    }
    return true;
}

static void f_limits(void *h, ps_conn *c, ps_server_limits *l)
{
    (void)h, (void)c;
    *l = (ps_server_limits){0, 0, 0};
}

static const ps_client_ops fake_ops = {
    .name = "fake",
    .unpoolable_after = f_null,
    .record = f_record,
    .free_facts = free,
    .transport = f_transport,
    .validate = f_true,
    .reauthenticate = f_reauthenticate,
    .input_pending = f_no_input,
    .unreachable = f_unreachable,
    .adopt = f_adopt,
    .reset = f_reset,
    .close = f_close,
    .abandon = f_abandon,
    .set_error = f_set_error,
    .fail = f_fail,
    .server_full = f_false,
    .track = f_true,
    .unreapable = f_unreapable,
    .variables_replayable = f_true,
    .read_values = f_read_values,
    .save_results = f_saved,
    .husk = f_husk,
    .renew = f_renew,
    .reconnects = f_reconnects,
    .connect_parked = f_connect_parked,
    .server_limits = f_limits,
};

static ps_pool *pool;

static void setup(void)
{
    static const ps_pool_ops pool_ops = {f_close, f_abandon, free, NULL};
    ps_config_defaults(&ps_cfg);
    ps_cfg.max_per_key = 1;
    ps_cfg.wait_timeout_ms = 50;
    ps_cfg.reap_min_idle_ms = 0;
    ps_cfg.leak_warn_ms = 0;
    ps_pool_set_ops(&pool_ops);
    ps_calls_init(&fake_ops);
    pool = ps_pool_get("k", "k");
    static const ps_connect_args args = {"h", "u", "p", "db", NULL, 3306, 0};
    ps_pool_set_args(pool, &args);
}

static void report(const char *what, void *ctx)
{
    (void)ctx;
    cr_log_error("%s", what);
}

static void teardown(void)
{
    cr_assert_eq(ps_pool_check(report, NULL), 0, "pool invariants violated");
    cr_assert_eq(ps_lease_check(report, NULL), 0, "lease invariants violated");
}

TestSuite(reclaim, .init = setup, .fini = teardown);

static const ps_connect_args no_args = {0};

/* Connects fake handle F through the pool, expecting OUTCOME. */
static void connect(fake *f, enum ps_connected outcome)
{
    cr_assert_eq(ps_acquire_connect(&fake_ops, pool, f, &no_args), outcome);
}

/* One command on F, as the client layer's wrappers bracket it; false when refused. */
static bool command(fake *f, unsigned effects)
{
    ps_call call;
    if (!ps_call_begin(&call, f, true))
        return false;
    ps_call_outcome o = {.statement = true, .effects = effects};
    ps_call_end(&call, f, &o);
    return true;
}

static ps_lease *lease_of(fake *f)
{
    return ps_lease_find(f, f->transport);
}

Test(reclaim, a_connect_at_the_cap_reaps_the_idle_clean_handle)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    ps_lease *la = lease_of(&a);
    cr_assert_eq(la->state, PS_LEASE_LIVE);
    connect(&b, PS_CONNECTED_POOLED); /* the cap is 1: a's connection is reaped and reused */
    cr_assert_eq(connects, 1, "one server connection serves both");
    cr_assert_eq(resets, 1);
    cr_assert_eq(la->state, PS_LEASE_REAPED);
    cr_assert_null(a.transport, "a is a husk");
    ps_pool_stats st;
    int idle, leased, connecting;
    ps_pool_stats_get(pool, &st, &idle, &leased, &connecting);
    cr_assert_eq(st.reaped, 1);
    cr_assert_eq(st.reuses, 1);
    cr_assert_eq(leased, 1);
}

/* The reset of a reap gets everything the lease did, e.g. SQL_CALC_FOUND_ROWS long done. */
Test(reclaim, the_reap_tells_the_reset_what_the_lease_did)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    cr_assert(command(&a, PS_SQL_FOUND_ROWS));
    cr_assert(command(&a, PS_SQL_REPLAYABLE)); /* FOUND_ROWS() no longer pending */
    connect(&b, PS_CONNECTED_POOLED);
    cr_assert_eq(resets, 1);
    cr_assert_eq(reset_lasting, PS_SQL_FOUND_ROWS | PS_SQL_REPLAYABLE);
}

Test(reclaim, a_reaped_handle_is_renewed_at_its_next_command)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    ps_lease *la = lease_of(&a);
    connect(&b, PS_CONNECTED_POOLED);
    cr_assert(command(&a, 0), "a's command reaps b (idle, clean) and renews a");
    cr_assert_eq(la->state, PS_LEASE_LIVE);
    cr_assert_not_null(a.transport);
    cr_assert_null(b.transport, "b was reaped for a");
    cr_assert_eq(renews, 1);
    cr_assert_eq(connects, 1);
}

/* The reap reads what the renewal gives back; a dead connection's reap keeps the last id an OK
 * packet reported and replays no diagnostics. */
Test(reclaim, the_renewal_gives_back_what_the_reap_read)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_POOLED);
    cr_assert(command(&a, 0));
    cr_assert_eq(renewed_with.last_insert_id, server_values.last_insert_id);
    cr_assert_eq(renewed_with.found_rows, server_values.found_rows);
    cr_assert_eq(renewed_with.row_count, server_values.row_count);
    cr_assert(renewed_with.diagnostics_known);
    ps_call call;
    cr_assert(ps_call_begin(&call, &a, true));
    ps_call_outcome inserted = {.statement = true, .insert_id = 42};
    ps_call_end(&call, &a, &inserted);
    a.transport = NULL; /* a's connection dies: b's command reaps it without a word */
    cr_assert(command(&b, 0));
    cr_assert(command(&a, 0));
    cr_assert_eq(renewed_with.last_insert_id, 42);
    cr_assert_not(renewed_with.diagnostics_known);
}

/* Session variables set by a replayable SET are read in the reap's one query and set again by
 * the renewal; when the connection died before they could be read, the next command fails as
 * it would have on it and the one after gets a fresh session. */
Test(reclaim, the_renewal_sets_the_session_variables_the_reap_read_again)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    cr_assert(command(&a, PS_SQL_VARIABLES));
    connect(&b, PS_CONNECTED_POOLED); /* reaps a */
    cr_assert_eq(variables_reads, 1);
    cr_assert(command(&a, 0));
    cr_assert_str_eq(renewed_variables, "SET sql_mode = ''");
    cr_assert(renewed_with.diagnostics_known, "read in the same query as the diagnostics");
    a.transport = NULL; /* a's connection dies: b's command reaps it without a word */
    cr_assert(command(&b, 0));
    cr_assert_str_eq(renewed_variables, "", "b set none");
    cr_assert_eq(variables_reads, 1, "b's reap read no variables");
    cr_assert_not(command(&a, 0), "a's variables died with its connection");
    cr_assert_eq(a.failure, 1 + PS_FAIL_GONE);
    cr_assert(command(&a, 0));
    cr_assert_str_eq(renewed_variables, "", "a fresh session");
}

Test(reclaim, a_connection_lost_under_the_replay_leaves_a_husk_that_tries_again)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    ps_lease *la = lease_of(&a);
    connect(&b, PS_CONNECTED_POOLED);
    renew_result = PS_REPLAY_LOST;
    cr_assert_not(command(&a, 0));
    cr_assert_eq(la->state, PS_LEASE_REAPED);
    cr_assert_null(a.transport);
    cr_assert_eq(closes, 1, "the connection that failed the replay is closed");
    ps_pool_stats st;
    int idle, leased, connecting;
    ps_pool_stats_get(pool, &st, &idle, &leased, &connecting);
    cr_assert_eq(st.discards, 1);
    cr_assert_eq(idle + leased + connecting, 0);
    renew_result = PS_REPLAY_DONE;
    cr_assert(command(&a, 0), "nothing was lost: the next command renews");
    cr_assert_eq(la->state, PS_LEASE_LIVE);
}

Test(reclaim, a_replay_the_server_refuses_breaks_the_handle_until_it_is_closed)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    ps_lease *la = lease_of(&a);
    connect(&b, PS_CONNECTED_POOLED);
    renew_result = PS_REPLAY_REFUSED;
    cr_assert_not(command(&a, 0));
    cr_assert_eq(la->state, PS_LEASE_BROKEN);
    cr_assert_null(a.transport);
    cr_assert_eq(closes, 1, "the connection that failed the replay is closed");
    renew_result = PS_REPLAY_DONE;
    a.failure = 0;
    cr_assert_not(command(&a, 0), "every later command fails");
    cr_assert_eq(a.failure, 1 + PS_FAIL_GONE, "as on a connection the server dropped");
    cr_assert_eq(renews, 1, "without trying another session");
    cr_assert_eq(connects, 1);
    cr_assert(command(&b, 0), "b, reaped for a, renews as usual");
    enum ps_lease_state was;
    ps_lease *l = ps_lease_take(&a, NULL, &was);
    cr_assert_eq(l, la);
    cr_assert_eq(was, PS_LEASE_BROKEN);
    ps_lease_free(l);
}

Test(reclaim, a_broken_handle_whose_program_reconnects_tries_the_session_again)
{
    fake a = {.reconnects = true}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    ps_lease *la = lease_of(&a);
    connect(&b, PS_CONNECTED_POOLED);
    renew_result = PS_REPLAY_REFUSED;
    cr_assert_not(command(&a, 0));
    cr_assert_eq(la->state, PS_LEASE_BROKEN);
    renew_result = PS_REPLAY_LOST;
    cr_assert_not(command(&a, 0));
    cr_assert_eq(renews, 2, "each command tries");
    cr_assert_eq(la->state, PS_LEASE_BROKEN, "a lost try leaves it broken, not reaped");
    renew_result = PS_REPLAY_DONE;
    cr_assert(command(&a, 0), "the session could be had again");
    cr_assert_eq(la->state, PS_LEASE_LIVE);
    cr_assert_not_null(a.transport);
}

Test(reclaim, a_dirty_session_is_never_reaped_and_a_hard_cap_fails_with_too_many)
{
    ps_cfg.overflow = false;
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    cr_assert(command(&a, PS_SQL_LOCK));
    connect(&b, PS_CONNECTED_FAILED);
    cr_assert_eq(b.failure, 1 + PS_FAIL_TOO_MANY);
    cr_assert_eq(lease_of(&a)->state, PS_LEASE_LIVE);
    cr_assert_not_null(a.transport);
}

Test(reclaim, an_unreapable_handle_is_kept_and_judged_again_after_its_next_call)
{
    ps_cfg.overflow = false;
    fake a = {.unreapable = "open transaction"}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_FAILED);
    cr_assert_eq(lease_of(&a)->unreapable, a.unreapable);
    a.unreapable = NULL;
    cr_assert(command(&a, 0));
    connect(&b, PS_CONNECTED_POOLED);
}

/* Overflow (the default): with every connection of the key pinned (a dirty session, a refused
 * reap), the next connect opens one more at once instead of waiting out the cap. Over the cap,
 * a connection that comes back (here: the clean handle reaped for the next connect) is closed,
 * not kept, so the pool shrinks back to its cap as the pinned handles close. */
Test(reclaim, at_a_cap_held_by_pinned_handles_a_connect_overflows_at_once)
{
    ps_cfg.wait_timeout_ms = 3600000; /* a wait would time the test out */
    fake a = {0}, b = {.unreapable = "open transaction"}, c = {0}, d = {0};
    connect(&a, PS_CONNECTED_POOLED);
    cr_assert(command(&a, PS_SQL_LOCK));
    connect(&b, PS_CONNECTED_POOLED); /* overflow: a is dirty */
    connect(&c, PS_CONNECTED_POOLED); /* overflow: b's reap is refused */
    cr_assert_eq(connects, 3);
    ps_pool_stats st;
    int idle, leased, connecting;
    ps_pool_stats_get(pool, &st, &idle, &leased, &connecting);
    cr_assert_eq(st.overflows, 2);
    cr_assert_eq(leased, 3);
    cr_assert_eq(st.reaped, 0);
    connect(&d, PS_CONNECTED_POOLED); /* c, clean, is reaped and closed (over the cap) */
    ps_pool_stats_get(pool, &st, &idle, &leased, &connecting);
    cr_assert_eq(st.reaped, 1);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.overflows, 3);
    cr_assert_eq(leased + idle, 3, "a, b and d");
    cr_assert_eq(lease_of(&c)->state, PS_LEASE_REAPED);
}

Test(reclaim, a_failed_connect_reports_the_library_error_and_frees_the_slot)
{
    fake a = {0};
    connect_ok = false;
    connect(&a, PS_CONNECTED_FAILED);
    cr_assert_eq(a.failure, 100);
    int idle, leased, connecting;
    ps_pool_stats st;
    ps_pool_stats_get(pool, &st, &idle, &leased, &connecting);
    cr_assert_eq(idle + leased + connecting, 0);
    cr_assert_eq(st.connect_failures, 1);
}

Test(reclaim, an_inherited_handle_is_taken_over_without_a_word_to_the_parent_session)
{
    fake a = {0};
    connect(&a, PS_CONNECTED_POOLED);
    void *parents = a.transport;
    ps_fork_prepare();
    ps_fork_child(); /* the child side, in-process */
    ps_lease *la = lease_of(&a);
    cr_assert_eq(la->state, PS_LEASE_INHERITED);
    cr_assert(command(&a, 0));
    cr_assert_eq(abandons, 1, "the parent's connection is let go silently");
    cr_assert_eq(closes, 0);
    cr_assert_eq(la->state, PS_LEASE_LIVE);
    cr_assert_neq(a.transport, parents, "the child has a connection of its own");
    cr_assert_eq(connects, 2);
}

/* A child's take-over reads nothing of the parent's session: no diagnostics of an older reap
 * are replayed. */
Test(reclaim, an_inherited_handle_replays_no_diagnostics_of_an_older_reap)
{
    fake a = {0}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_POOLED);
    cr_assert(command(&a, 0)); /* a renewed with what the reap read */
    cr_assert(renewed_with.diagnostics_known);
    ps_fork_prepare();
    ps_fork_child();
    cr_assert(command(&a, 0));
    cr_assert_eq(renews, 2);
    cr_assert_not(renewed_with.diagnostics_known);
}

Test(reclaim, an_inherited_dirty_session_fails_like_a_lost_connection)
{
    fake a = {0};
    connect(&a, PS_CONNECTED_POOLED);
    cr_assert(command(&a, PS_SQL_SESSION));
    ps_fork_prepare();
    ps_fork_child();
    cr_assert_not(command(&a, 0));
    cr_assert_eq(a.failure, 1 + PS_FAIL_GONE);
    cr_assert_eq(abandons, 1);
    cr_assert_eq(connects, 1, "nothing ran in another session");
    cr_assert_eq(lease_of(&a)->state, PS_LEASE_REAPED);
}

/* ---- re-verifying credentials before reuse (POOLSHIM_REVERIFY_MS) ----------------------- */

/* Closes F the way mysql_close does for a clean session: its connection is parked. */
static void release(fake *f)
{
    enum ps_lease_state was;
    ps_lease *l = ps_lease_take(f, f->transport, &was);
    cr_assert_not_null(l);
    ps_conn *c = l->activity.conn;
    fake *parked = new_fake(f->transport);
    f->transport = NULL;
    ps_pool_park(c, parked);
    ps_lease_free(l);
}

static ps_pool_stats stats(int *idle)
{
    ps_pool_stats st;
    int leased, connecting;
    ps_pool_stats_get(pool, &st, idle, &leased, &connecting);
    return st;
}

Test(reclaim, a_reuse_re_authenticates_once_per_window_and_a_real_connect_proves_nothing)
{
    fake a = {0}, b = {0}, c = {0}, d = {0};
    ps_cfg.reverify_ms = 60000;
    connect(&a, PS_CONNECTED_POOLED);
    release(&a);
    connect(&b, PS_CONNECTED_POOLED);
    cr_assert_eq(reauths, 1, "the first reuse re-authenticates (a connect proves nothing)");
    release(&b);
    connect(&c, PS_CONNECTED_POOLED);
    cr_assert_eq(reauths, 1, "within the window a reuse does not");
    release(&c);
    ps_cfg.reverify_ms = 0;
    connect(&d, PS_CONNECTED_POOLED);
    cr_assert_eq(reauths, 2, "with a zero window every reuse does");
    cr_assert_eq(connects, 1);
    int idle;
    cr_assert_eq(stats(&idle).reauths, 2);
}

Test(reclaim, a_refusal_closes_every_parked_connection_of_the_key_and_connects_for_real)
{
    fake a = {0}, b = {0}, c = {0};
    ps_cfg.max_per_key = 3;
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_POOLED);
    release(&a);
    release(&b);
    reauth_result = PS_REAUTH_REFUSED;
    connect(&c, PS_CONNECTED_POOLED);
    cr_assert_eq(reauths, 1, "one refusal is enough for the whole key");
    cr_assert_eq(closes, 2, "the refused connection and the other parked one are closed");
    cr_assert_eq(connects, 3, "the program's connect is a real one: the server's own answer");
    int idle;
    ps_pool_stats st = stats(&idle);
    cr_assert_eq(st.reauth_refusals, 1);
    cr_assert_eq(idle, 0);
}

Test(reclaim, a_refused_key_closes_parked_connections_unasked_until_a_connect_succeeds)
{
    fake a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, f = {0};
    ps_cfg.max_per_key = 3;
    ps_cfg.reverify_ms = 0;
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_POOLED);
    release(&a);
    reauth_result = PS_REAUTH_REFUSED;
    connect_ok = false; /* the server refuses the real connect too */
    connect(&c, PS_CONNECTED_FAILED);
    cr_assert_eq(c.failure, 100, "the real connect's error");
    release(&b); /* leased during the refusal: parked, but no better proven */
    connect(&d, PS_CONNECTED_FAILED);
    cr_assert_eq(reauths, 1, "a refused key does not ask again (each refusal costs a second)");
    cr_assert_eq(closes, 2);
    connect_ok = true;
    reauth_result = PS_REAUTH_OK;
    connect(&e, PS_CONNECTED_POOLED);
    release(&e);
    connect(&f, PS_CONNECTED_POOLED);
    cr_assert_eq(reauths, 2, "after a successful connect, reuses re-authenticate again");
}

Test(reclaim, a_failed_re_authentication_closes_only_that_connection)
{
    fake a = {0}, b = {0}, c = {0};
    ps_cfg.max_per_key = 2;
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_POOLED);
    release(&a);
    release(&b);
    reauth_result = PS_REAUTH_FAILED; /* e.g. the connection was lost */
    connect(&c, PS_CONNECTED_POOLED);
    cr_assert_eq(reauths, 2, "each parked connection is tried");
    cr_assert_eq(connects, 3);
    int idle;
    cr_assert_eq(stats(&idle).reauth_refusals, 0);
}

Test(reclaim, a_renewal_takes_a_parked_connection_without_re_authenticating)
{
    fake a = {0}, b = {0};
    ps_cfg.reverify_ms = 0;
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_POOLED); /* the cap is 1: reaps a, reuses its connection */
    cr_assert_eq(reauths, 1, "b is a connect: re-authenticated");
    reauth_result = PS_REAUTH_REFUSED; /* would fail the renewal if it were asked */
    cr_assert(command(&a, 0), "a's command reaps b and renews a");
    cr_assert_eq(renews, 1);
    cr_assert_eq(reauths, 1, "a renewal continues the program's session: never re-verified");
}

/* A handle a reap has to pass over is counted once per reason (the metrics' unreclaimable
 * handles), however often reaps look at it; each request is counted once, with its wait. */
Test(reclaim, a_handle_passed_over_is_counted_once_per_reason)
{
    ps_cfg.overflow = false;
    fake a = {.unreapable = "open transaction"}, b = {0};
    connect(&a, PS_CONNECTED_POOLED);
    connect(&b, PS_CONNECTED_FAILED); /* the reap is refused: transaction */
    connect(&b, PS_CONNECTED_FAILED); /* the refusal stands until a's next call */
    cr_assert(command(&a, PS_SQL_LOCK));
    connect(&b, PS_CONNECTED_FAILED); /* now a lock keeps it */
    connect(&b, PS_CONNECTED_FAILED);
    int idle;
    ps_pool_stats st = stats(&idle);
    for (int i = 0; i < PS_HOLD_N; i++)
        cr_expect_eq(st.unreclaimable[i], i == PS_HOLD_TRANSACTION || i == PS_HOLD_LOCK,
                     "reason %d: %llu", i, (unsigned long long)st.unreclaimable[i]);
    cr_expect_eq(st.requests, 5);
    cr_expect_eq(st.served_idle, 0);
    cr_expect_eq(st.waits, 4);
    cr_expect_eq(st.wait_timeouts, 4);
    cr_expect_gt(st.max_wait_ms, 0);
    cr_expect_geq(st.wait_ms_total, st.max_wait_ms);
}
