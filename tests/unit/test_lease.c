/* The lease state machine alone: every legal move, the refusal of illegal ones, the indexes
 * (by handle, by transport, a copied struct followed to its new address), LRU order, waiting
 * for a move to end on a condition variable, leak batches, fork, and broken leases (a renewal
 * the server refused: BROKEN until closed, or renewed again for a program that reconnects).
 * After every test the module's own invariant check must find nothing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "poolshim/config.h"
#include "poolshim/lease.h"
#include "poolshim/sql_effects.h"

static ps_pool *pool;

static void setup(void)
{
    ps_config_defaults(&ps_cfg);
    pool = ps_pool_get("k", "k");
    cr_assert_not_null(pool);
}

static void report(const char *what, void *ctx)
{
    (void)ctx;
    cr_log_error("%s", what);
}

static void teardown(void)
{
    cr_assert_eq(ps_lease_check(report, NULL), 0, "lease invariants violated");
}

TestSuite(lease, .init = setup, .fini = teardown);

/* A LIVE lease for HANDLE with transport TRANSPORT (a fake connection). */
static ps_lease *live(void *handle, void *transport)
{
    static ps_conn conns[16];
    static int n;
    ps_conn *c = &conns[n++ % 16];
    c->pool = pool;
    ps_lease *l = ps_lease_begin(c, handle, transport, NULL);
    cr_assert_not_null(l);
    cr_assert_eq(l->state, PS_LEASE_LIVE);
    return l;
}

static const ps_call_outcome plain_call = {.statement = true, .effects = 0, .app_reset = false};

Test(lease, a_call_on_a_live_lease_is_tracked_and_counted)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&h, &t, true, &how), l);
    cr_assert_eq(how, PS_ENTER_CALL);
    cr_assert_eq(ps_lease_calls(l), 1);
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0), "a lease in a call is never reaped");
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(ps_lease_calls(l), 0);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l);
    cr_assert_eq(l->state, PS_LEASE_MOVING);
    ps_lease_settle(l, l->conn, l->transport, NULL);
}

Test(lease, reap_then_renew_walks_live_moving_reaped_moving_live)
{
    int h, t, t2;
    ps_lease *l = live(&h, &t);
    ps_conn *c = l->conn;
    cr_assert_eq(ps_lease_pick_reapable(pool, 0, 0), l);
    ps_lease_drop_conn(l);
    ps_lease_settle(l, NULL, NULL, NULL);
    cr_assert_eq(l->state, PS_LEASE_REAPED);
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&h, NULL, false, &how), l);
    cr_assert_eq(how, PS_ENTER_CALL, "a result read never renews");
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(ps_lease_enter(&h, NULL, true, &how), l);
    cr_assert_eq(how, PS_ENTER_RENEW);
    cr_assert_eq(l->state, PS_LEASE_MOVING);
    ps_lease_settle(l, c, &t2, NULL);
    cr_assert_eq(l->state, PS_LEASE_LIVE);
    cr_assert_eq(ps_lease_find(NULL, &t2), l, "found by its new transport");
    ps_lease_leave(l, &plain_call);
}

Test(lease, a_refused_reap_keeps_the_lease_live_and_out_of_the_next_pick)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l);
    ps_lease_settle(l, l->conn, &t, "open transaction");
    cr_assert_eq(l->state, PS_LEASE_LIVE);
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0), "refused until its next call");
    enum ps_enter how;
    cr_assert_not_null(ps_lease_enter(&h, &t, true, &how));
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l, "a new call: judged afresh");
    ps_lease_settle(l, l->conn, &t, NULL);
}

Test(lease, dirty_sessions_are_never_picked)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    enum ps_enter how;
    ps_lease_enter(&h, &t, true, &how);
    ps_call_outcome dirty = {.statement = true, .effects = PS_SQL_SESSION, .app_reset = false};
    ps_lease_leave(l, &dirty);
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0));
    cr_assert_not(ps_lease_replayable(l));
    ps_lease_enter(&h, &t, true, &how);
    ps_call_outcome reset = {.statement = true, .effects = 0, .app_reset = true};
    ps_lease_leave(l, &reset);
    cr_assert(ps_lease_replayable(l), "the program's own reset cleans the session");
}

/* What COM_RESET_CONNECTION keeps (a role, server options) outlives the program's own reset:
 * the lease stays pinned and remembers it for the release's reset. */
Test(lease, what_the_reset_keeps_pins_the_lease_for_good)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    enum ps_enter how;
    ps_lease_enter(&h, &t, true, &how);
    ps_call_outcome role = {
        .statement = true, .effects = PS_SQL_SESSION | PS_SQL_ROLE, .app_reset = false};
    ps_lease_leave(l, &role);
    ps_lease_enter(&h, &t, true, &how);
    ps_call_outcome reset = {.statement = true, .effects = 0, .app_reset = true};
    ps_lease_leave(l, &reset);
    cr_assert_not(ps_lease_replayable(l), "the program's reset keeps the role");
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0));
    ps_lease_session s = ps_lease_session_get(l);
    cr_assert_eq(s.effects, 0);
    cr_assert_eq(s.lasting, PS_SQL_SESSION | PS_SQL_ROLE);
    cr_assert_eq(ps_lease_session_dirt(&s), PS_SQL_ROLE);
}

Test(lease, pick_takes_the_least_recently_used_first)
{
    int h1, h2, t1, t2;
    ps_lease *a = live(&h1, &t1), *b = live(&h2, &t2);
    enum ps_enter how;
    ps_lease_enter(&h1, &t1, true, &how);
    ps_lease_leave(a, &plain_call); /* a is now the most recently used */
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), b);
    ps_lease_settle(b, b->conn, &t2, NULL);
}

Test(lease, a_copied_struct_is_found_by_transport_and_followed)
{
    int h, copy, t;
    ps_lease *l = live(&h, &t);
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&copy, &t, true, &how), l);
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(l->handle, &copy, "the lease follows the struct the program uses");
    cr_assert_eq(ps_lease_find(&copy, NULL), l);
    cr_assert_null(ps_lease_find(&h, NULL));
}

Test(lease, a_reused_address_belongs_to_the_newest_lease)
{
    int h, t1, t2;
    ps_lease *old = live(&h, &t1), *new = live(&h, &t2);
    cr_assert_null(old->handle, "the old lease lost the address");
    cr_assert_eq(ps_lease_find(&h, &t2), new);
    cr_assert_eq(ps_lease_find(NULL, &t1), old, "still found by its connection");
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), new,
                 "a lease without a handle is never reaped");
    ps_lease_settle(new, new->conn, &t2, NULL);
}

Test(lease, take_closes_and_unindexes)
{
    int h, t;
    live(&h, &t);
    enum ps_lease_state was;
    ps_lease *l = ps_lease_take(&h, &t, &was);
    cr_assert_not_null(l);
    cr_assert_eq(was, PS_LEASE_LIVE);
    cr_assert_eq(l->state, PS_LEASE_CLOSED);
    cr_assert_not(ps_lease_held(&h, &t));
    ps_lease_free(l);
}

/* A thread closing a handle while another moves its lease. */
static void *take_in_thread(void *h)
{
    enum ps_lease_state was;
    return ps_lease_take(h, NULL, &was);
}

Test(lease, take_waits_on_the_condition_variable_until_the_move_ends)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l);
    pthread_t th;
    pthread_create(&th, NULL, take_in_thread, &h);
    usleep(20000); /* give it time to block: whatever happens, it must not take a MOVING lease */
    cr_assert_eq(l->state, PS_LEASE_MOVING);
    ps_lease_drop_conn(l);
    ps_lease_settle(l, NULL, NULL, NULL);
    void *taken;
    pthread_join(th, &taken);
    cr_assert_eq(taken, l);
    cr_assert_eq(l->state, PS_LEASE_CLOSED);
    ps_lease_free(l);
}

/* Counts leak reports. */
static void count_leak(const ps_lease *l, void *ctx)
{
    (void)l;
    ++*(int *)ctx;
}

Test(lease, leak_reports_come_in_batches_outside_the_lock_and_once_each)
{
    int h[20], t[20];
    enum ps_enter how;
    ps_call_outcome dirty = {.statement = true, .effects = PS_SQL_LOCK, .app_reset = false};
    for (int i = 0; i < 20; i++) {
        ps_lease *l = live(&h[i], &t[i]);
        ps_lease_enter(&h[i], &t[i], true, &how);
        ps_lease_leave(l, &dirty);
    }
    int n = 0;
    ps_lease_foreach_leak(0, count_leak, &n);
    cr_assert_eq(n, 20);
    ps_lease_foreach_leak(0, count_leak, &n);
    cr_assert_eq(n, 20, "each leak is reported once");
}

Test(lease, fork_child_marks_live_leases_inherited_and_drops_moving_ones)
{
    int h1, h2, h3, t1, t2, t3;
    ps_lease *a = live(&h1, &t1), *b = live(&h2, &t2), *c = live(&h3, &t3);
    enum ps_enter how;
    ps_lease_enter(&h1, &t1, false, &how); /* a call in progress in a parent thread */
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), b);
    ps_lease_drop_conn(b);
    ps_lease_settle(b, NULL, NULL, NULL);                /* b: REAPED */
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), c); /* c: MOVING at fork time */
    ps_lease_before_fork();
    ps_lease_after_fork_child(); /* the child side, in-process */
    cr_assert_eq(a->state, PS_LEASE_INHERITED);
    cr_assert_eq(ps_lease_calls(a), 0, "the parent's calls are not the child's");
    cr_assert_eq(b->state, PS_LEASE_REAPED);
    cr_assert_not(ps_lease_held(&h3, &t3), "a half-moved handle is never tracked");
    cr_assert_null(ps_lease_enter(&h1, &t1, false, &how), "reads pass straight through");
    cr_assert_eq(how, PS_ENTER_UNTRACKED);
    cr_assert_eq(ps_lease_enter(&h1, &t1, true, &how), a);
    cr_assert_eq(how, PS_ENTER_TAKEOVER);
    ps_lease_drop_conn(a);
    ps_lease_settle(a, NULL, NULL, NULL);
    ps_lease_leave(a, &plain_call);
    cr_assert_eq(a->state, PS_LEASE_REAPED);
}

/* A REAPED lease renewed, whose replay the server refused: MOVING -> BROKEN. */
static ps_lease *broken(void *handle, void *transport)
{
    ps_lease *l = live(handle, transport);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l);
    ps_lease_drop_conn(l);
    ps_lease_settle(l, NULL, NULL, NULL);
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(handle, NULL, PS_CALL_SENDS, &how), l);
    cr_assert_eq(how, PS_ENTER_RENEW);
    ps_lease_break(l);
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(l->state, PS_LEASE_BROKEN);
    cr_assert_null(l->conn);
    return l;
}

Test(lease, a_broken_lease_fails_every_command_and_is_never_picked)
{
    int h, t;
    ps_lease *l = broken(&h, &t);
    enum ps_enter how;
    cr_assert_null(ps_lease_enter(&h, NULL, PS_CALL_SENDS, &how));
    cr_assert_eq(how, PS_ENTER_BROKEN, "a command fails: its session is gone");
    cr_assert_eq(ps_lease_calls(l), 0, "nothing counted");
    cr_assert_eq(l->state, PS_LEASE_BROKEN);
    cr_assert_null(ps_lease_enter(&h, NULL, 0, &how));
    cr_assert_eq(how, PS_ENTER_UNTRACKED, "a result read goes to the husk");
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0));
    cr_assert(ps_lease_held(&h, NULL));
    enum ps_lease_state was;
    cr_assert_eq(ps_lease_take(&h, NULL, &was), l);
    cr_assert_eq(was, PS_LEASE_BROKEN);
    cr_assert_eq(l->state, PS_LEASE_CLOSED);
    ps_lease_free(l);
}

Test(lease, a_broken_lease_whose_program_reconnects_is_renewed_again)
{
    int h, t, t2;
    ps_lease *l = broken(&h, &t);
    static ps_conn c;
    c.pool = l->pool;
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&h, NULL, PS_CALL_SENDS | PS_CALL_RECONNECTS, &how), l);
    cr_assert_eq(how, PS_ENTER_RECONNECT);
    cr_assert_eq(l->state, PS_LEASE_MOVING);
    ps_lease_break(l); /* refused again */
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(l->state, PS_LEASE_BROKEN);
    cr_assert_eq(ps_lease_enter(&h, NULL, PS_CALL_SENDS | PS_CALL_RECONNECTS, &how), l);
    ps_lease_settle(l, &c, &t2, NULL); /* this time the session could be had */
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(l->state, PS_LEASE_LIVE);
    cr_assert_eq(ps_lease_find(NULL, &t2), l);
}

Test(lease, a_broken_lease_stays_broken_in_a_forked_child)
{
    int h, t;
    ps_lease *l = broken(&h, &t);
    ps_lease_before_fork();
    ps_lease_after_fork_child();
    cr_assert_eq(l->state, PS_LEASE_BROKEN);
    enum ps_enter how;
    cr_assert_null(ps_lease_enter(&h, NULL, PS_CALL_SENDS, &how));
    cr_assert_eq(how, PS_ENTER_BROKEN);
}

/* An illegal move: settling a lease nobody is moving. */
static void settle_unowned(void)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    ps_lease_settle(l, NULL, NULL, NULL); /* LIVE -> REAPED without a move: illegal */
}

/* Another: breaking a lease nobody is moving (only a failed renewal breaks one). */
static void break_unowned(void)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    ps_lease_break(l); /* LIVE -> BROKEN: illegal */
}

#ifdef POOLSHIM_STRICT
Test(lease_strict, an_illegal_move_aborts, .signal = SIGABRT, .init = setup)
{
    settle_unowned();
}

Test(lease_strict, breaking_a_live_lease_aborts, .signal = SIGABRT, .init = setup)
{
    break_unowned();
}
#else
Test(lease_lenient, an_illegal_move_is_refused_and_reported, .init = setup)
{
    settle_unowned();
    cr_assert_gt(ps_lease_check(NULL, NULL), 0);
}

Test(lease_lenient, breaking_a_live_lease_is_refused_and_reported, .init = setup)
{
    break_unowned();
    cr_assert_gt(ps_lease_check(NULL, NULL), 0);
}
#endif
