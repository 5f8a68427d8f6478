/* The lease state machine alone: every legal move, the refusal of illegal ones, the indexes
 * (by handle, by transport, a copied struct followed to its new address), LRU order, waiting
 * for a move to end on a condition variable, leak batches, fork, and broken leases (a renewal
 * the server refused: BROKEN until closed, or renewed again for a program that reconnects).
 * After every test the module's own invariant check must find nothing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
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
    ps_lease_settle(l, l->activity.conn, l->transport, NULL);
}

Test(lease, reap_then_renew_walks_live_moving_reaped_moving_live)
{
    int h, t, t2;
    ps_lease *l = live(&h, &t);
    ps_conn *c = l->activity.conn;
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
    ps_lease_settle(l, l->activity.conn, &t, "open transaction");
    cr_assert_eq(l->state, PS_LEASE_LIVE);
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0), "refused until its next call");
    enum ps_enter how;
    cr_assert_not_null(ps_lease_enter(&h, &t, true, &how));
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l, "a new call: judged afresh");
    ps_lease_settle(l, l->activity.conn, &t, NULL);
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
    ps_lease_settle(b, b->activity.conn, &t2, NULL);
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
    ps_lease_settle(new, new->activity.conn, &t2, NULL);
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

/* The handles a fork child's mute was given. */
static void *muted[4];
static int nmuted;

static void record_mute(void *handle)
{
    if (nmuted < 4)
        muted[nmuted++] = handle;
}

/* The handles a fork child's track was given. */
static void *tracked[4];
static int ntracked;

static bool record_track(void *handle)
{
    if (ntracked < 4)
        tracked[ntracked++] = handle;
    return true;
}

Test(lease, fork_child_marks_live_leases_inherited_and_breaks_moving_ones)
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
    nmuted = ntracked = 0;
    ps_lease_after_fork_child(record_mute, record_track); /* the child side, in-process */
    cr_assert_eq(a->state, PS_LEASE_INHERITED);
    /* a parent thread's read may have routed the handle's calls straight to the library */
    cr_assert_eq(ntracked, 1, "the INHERITED handles only");
    cr_assert_eq(tracked[0], &h1);
    cr_assert_eq(ps_lease_calls(a), 0, "the parent's calls are not the child's");
    cr_assert_eq(b->state, PS_LEASE_REAPED);
    /* a half-moved handle may hold the parent's connection: muted, broken, no connection */
    cr_assert_eq(nmuted, 1);
    cr_assert_eq(muted[0], &h3);
    cr_assert_eq(c->state, PS_LEASE_BROKEN);
    cr_assert_null(c->activity.conn);
    cr_assert_null(ps_lease_enter(&h3, NULL, PS_CALL_SENDS, &how));
    cr_assert_eq(how, PS_ENTER_BROKEN, "its commands fail as on a lost connection");
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
    cr_assert_null(l->activity.conn);
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
    ps_lease_after_fork_child(NULL, NULL);
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

/* The fast path (lease.h): calls entered and left without the lock. */
TestSuite(lease_fast, .init = setup, .fini = teardown);

static const ps_call_outcome read_nothing = {.statement = false};

/* Enters a call on HANDLE/TRANSPORT by the fast path if it takes it, else the locked one (as
 * ps_call_begin does); *FAST says which. */
static ps_lease *enter_any(void *handle, void *transport, bool sends, bool *fast)
{
    enum ps_enter how;
    ps_lease *l = ps_lease_of(ps_activity_enter(handle, transport, sends));
    *fast = l != NULL;
    return l ? l : ps_lease_enter(handle, transport, sends ? PS_CALL_SENDS : 0, &how);
}

Test(lease_fast, the_connecting_thread_enters_its_new_lease_without_the_lock)
{
    int h, t, other;
    ps_lease *l = live(&h, &t);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l, "begin remembered it");
    cr_assert_eq(ps_lease_calls(l), 1);
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0), "a lease in a fast call is never reaped");
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(ps_lease_calls(l), 0);
    cr_assert_null(ps_lease_of(ps_activity_enter(&other, &t, true)),
                   "another handle: the locked path");
    cr_assert_null(ps_lease_of(ps_activity_enter(&h, &other, true)),
                   "another transport: the locked path");
}

Test(lease_fast, any_change_of_the_indexes_sends_the_next_call_to_the_locked_path)
{
    int h1, h2, t1, t2;
    ps_lease *a = live(&h1, &t1);
    live(&h2, &t2); /* another handle's connect: every thread's last lookup is stale */
    cr_assert_null(ps_lease_of(ps_activity_enter(&h1, &t1, false)));
    bool fast;
    cr_assert_eq(enter_any(&h1, &t1, false, &fast), a);
    cr_assert_not(fast);
    ps_lease_leave(a, &plain_call);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h1, &t1, false)), a,
                 "the locked path remembered it");
    ps_lease_leave(a, &plain_call);
}

Test(lease_fast, a_picked_reaped_or_refused_lease_is_shut_to_the_fast_path)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l);
    cr_assert_null(ps_lease_of(ps_activity_enter(&h, &t, false)), "MOVING: shut");
    ps_lease_settle(l, l->activity.conn, &t, "open transaction");
    cr_assert_null(ps_lease_of(ps_activity_enter(&h, &t, false)), "a refused reap to forget: shut");
    bool fast;
    cr_assert_eq(enter_any(&h, &t, false, &fast), l);
    ps_lease_leave(l, &plain_call); /* forgets it: open again */
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, false)), l);
    ps_lease_leave(l, &plain_call);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l);
    ps_lease_drop_conn(l);
    ps_lease_settle(l, NULL, NULL, NULL);
    cr_assert_null(ps_lease_of(ps_activity_enter(&h, NULL, false)), "REAPED: shut");
}

Test(lease_fast, a_pending_found_rows_shuts_the_gate_until_the_next_statement)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    ps_call_outcome calc = {.statement = true, .effects = PS_SQL_FOUND_ROWS};
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l);
    ps_lease_leave(l, &calc); /* an effect: the locked leave */
    cr_assert(ps_lease_session_get(l).found_rows_pending);
    cr_assert_null(ps_lease_of(ps_activity_enter(&h, &t, true)),
                   "the next statement must clear it");
    bool fast;
    cr_assert_eq(enter_any(&h, &t, true, &fast), l);
    ps_lease_leave(l, &plain_call);
    cr_assert_not(ps_lease_session_get(l).found_rows_pending);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l);
    ps_lease_leave(l, &plain_call);
}

Test(lease_fast, a_fast_call_with_effects_is_recorded_under_the_lock)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    ps_call_outcome dirty = {.statement = true, .effects = PS_SQL_SESSION, .insert_id = 7};
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l);
    ps_lease_leave(l, &dirty);
    ps_lease_session s = ps_lease_session_get(l);
    cr_assert_eq(s.effects, PS_SQL_SESSION);
    cr_assert_eq(s.values.last_insert_id, 7);
    cr_assert_eq(ps_lease_calls(l), 0);
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0), "dirty: never picked");
}

Test(lease_fast, fast_calls_keep_the_least_recently_used_order)
{
    int h1, h2, t1, t2;
    ps_lease *a = live(&h1, &t1), *b = live(&h2, &t2);
    bool fast;
    cr_assert_eq(enter_any(&h1, &t1, false, &fast), a);
    ps_lease_leave(a, &read_nothing);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h1, &t1, false)), a);
    ps_lease_leave(a, &read_nothing); /* a fast call: a is the most recently used */
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), b);
    ps_lease_settle(b, b->activity.conn, &t2, NULL);
    cr_assert_eq(enter_any(&h2, &t2, false, &fast), b);
    ps_lease_leave(b, &read_nothing);
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), a);
    ps_lease_settle(a, a->activity.conn, &t1, NULL);
}

Test(lease_fast, a_command_idle_past_its_patience_takes_the_locked_path_to_renew)
{
    int h, t;
    ps_cfg.reap_idle_ms = 1;
    pool = ps_pool_get("patient", "patient"); /* a pool takes its patience from the config */
    ps_lease *l = live(&h, &t);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, false)), l, "reads never renew");
    ps_lease_leave(l, &read_nothing);
    while (ps_now_late_ms() - __atomic_load_n(&l->activity.last_call_ms, __ATOMIC_RELAXED) < 1)
        usleep(1000); /* until the clock has passed the limit: no duration is asserted */
    cr_assert_null(ps_lease_of(ps_activity_enter(&h, &t, true)));
    cr_assert_eq(ps_lease_calls(l), 0, "nothing counted");
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&h, &t, PS_CALL_SENDS, &how), l);
    cr_assert_eq(how, PS_ENTER_RENEW);
    ps_lease_settle(l, l->activity.conn, &t, NULL);
    ps_lease_leave(l, &plain_call);
}

/* The race the gate closes: a thread calling on a handle (fast whenever it may) and a reaper
 * picking its lease, started together round after round, so that the pick and the call's entry
 * meet: both spin until the other has arrived (a futex wake would part them by microseconds),
 * then the caller waits a little longer each round (0 to 4 * RACE_SWEEP busy loads), so that
 * its entry sweeps across the pick. A pick must never return while a call is in progress, and
 * no call may run on a picked (MOVING) lease. Each side then looks a while (a call or a move
 * that takes time). */
static struct {
    int h, t;
    int arrived[2];       /* the last round each side arrived at */
    int in_call;          /* the caller is between its enter and its leave */
    int picks, bad_picks; /* picks; picks made while a call was in progress */
    int fast, bad_calls;  /* calls by the fast path; calls that ran on a picked lease */
} race;

enum { RACE_ROUNDS = 20000, RACE_LOOKS = 100, RACE_SWEEP = 64 };

/* Side SIDE (0: caller, 1: reaper) arrives at ROUND and waits for the other: spinning, then
 * yielding the CPU when the other is not running. */
static void race_meet(int side, int round)
{
    __atomic_store_n(&race.arrived[side], round, __ATOMIC_SEQ_CST);
    for (int spins = 0; __atomic_load_n(&race.arrived[!side], __ATOMIC_SEQ_CST) < round; spins++)
        if (spins > 1000)
            sched_yield();
}

static void *race_caller(void *arg)
{
    (void)arg;
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        race_meet(0, round);
        for (int i = 0; i < 4 * (round % RACE_SWEEP); i++)
            (void)__atomic_load_n(&race.in_call, __ATOMIC_SEQ_CST);
        bool fast, bad = false;
        ps_lease *l = enter_any(&race.h, &race.t, round % 3 == 0, &fast);
        __atomic_store_n(&race.in_call, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < RACE_LOOKS; i++)
            bad = bad || __atomic_load_n(&l->state, __ATOMIC_SEQ_CST) != PS_LEASE_LIVE;
        __atomic_store_n(&race.in_call, 0, __ATOMIC_SEQ_CST);
        ps_lease_leave(l, &read_nothing);
        race.bad_calls += bad;
        race.fast += fast;
    }
    return NULL;
}

static void *race_reaper(void *arg)
{
    (void)arg;
    for (int round = 1; round <= RACE_ROUNDS; round++) {
        race_meet(1, round);
        ps_lease *l = ps_lease_pick_reapable(NULL, 0, 0);
        if (!l)
            continue;
        bool bad = false;
        for (int i = 0; i < RACE_LOOKS; i++)
            bad = bad || __atomic_load_n(&race.in_call, __ATOMIC_SEQ_CST);
        race.bad_picks += bad;
        race.picks++;
        ps_lease_settle(l, l->activity.conn, &race.t, NULL); /* kept: LIVE again */
    }
    return NULL;
}

Test(lease_fast, a_reaper_never_picks_a_lease_in_a_call_nor_a_call_enters_a_picked_one)
{
    ps_lease *l = live(&race.h, &race.t);
    pthread_t caller, reaper;
    cr_assert_eq(pthread_create(&reaper, NULL, race_reaper, NULL), 0);
    cr_assert_eq(pthread_create(&caller, NULL, race_caller, NULL), 0);
    pthread_join(caller, NULL);
    pthread_join(reaper, NULL);
    cr_assert_eq(race.bad_picks, 0, "%d of %d picks while a call was in progress", race.bad_picks,
                 race.picks);
    cr_assert_eq(race.bad_calls, 0, "%d of %d calls ran on a picked lease", race.bad_calls,
                 RACE_ROUNDS);
    cr_assert_gt(race.picks, 0, "the reaper picked");
    cr_assert_gt(race.fast, 0, "the fast path was taken");
    cr_assert_eq(ps_lease_calls(l), 0);
}

static const ps_call_outcome sent_awaiting = {.statement = true, .reply = PS_REPLY_AWAITED};
static const ps_call_outcome rows_awaiting = {.reply = PS_REPLY_AWAITED};
static const ps_call_outcome answer_read = {.reply = PS_REPLY_NONE};

/* A statement's command and its reads: one entry and one exit. The send hands its count to the
 * awaited answer; the reads run under that count (not counted again, marked reading, not
 * pinned); the last read takes it off: then, and only then, the lease can be reaped. */
Test(lease_fast, an_awaited_answer_holds_its_commands_count_until_its_last_read)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    cr_assert_null(ps_lease_of(ps_activity_enter_answer(&h, &t)),
                   "nothing awaited: a read enters as usual");
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l);
    ps_lease_leave(l, &sent_awaiting);
    cr_assert(ps_lease_awaiting(l));
    cr_assert_eq(ps_lease_calls(l), 1, "the answer keeps the command's count");
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0), "an answer on the wire: never reaped");
    cr_assert_eq(ps_lease_count_pinned(pool, 0), 1, "nobody reads it: it holds the connection");
    cr_assert_eq(ps_lease_of(ps_activity_enter_answer(&h, &t)), l, "the header's read");
    cr_assert_eq(ps_lease_calls(l), 1, "not counted again");
    cr_assert_eq(ps_lease_count_pinned(pool, 0), 0, "being read: in use, not pinned");
    ps_lease_leave_plain(l, &rows_awaiting, false);
    cr_assert(ps_lease_awaiting(l));
    cr_assert_eq(ps_lease_calls(l), 1, "rows still on the wire");
    cr_assert_null(ps_lease_pick_reapable(NULL, 0, 0));
    cr_assert_eq(ps_lease_of(ps_activity_enter_answer(&h, &t)), l, "the rows' read");
    ps_lease_leave_plain(l, &answer_read, false);
    cr_assert_not(ps_lease_awaiting(l));
    cr_assert_eq(ps_lease_calls(l), 0, "read to its end: the count is gone");
    cr_assert_null(ps_lease_of(ps_activity_enter_answer(&h, &t)));
    cr_assert_eq(ps_lease_pick_reapable(NULL, 0, 0), l, "now it can be reaped");
    ps_lease_drop_conn(l);
    ps_lease_settle(l, NULL, NULL, NULL);
}

/* A read entered counted (another thread's, or by the locked path) that ends the answer takes
 * off its own count and the answer's; a command that reads its own answer while one was
 * awaited (mysql_reset_connection after an unread result) the same. */
Test(lease_fast, a_counted_call_that_ends_the_answer_takes_both_counts)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&h, &t, PS_CALL_SENDS, &how), l);
    ps_lease_leave(l, &sent_awaiting);
    cr_assert_eq(ps_lease_enter(&h, &t, 0, &how), l, "a read by the locked path");
    cr_assert_eq(ps_lease_calls(l), 2);
    ps_lease_leave(l, &answer_read);
    cr_assert_eq(ps_lease_calls(l), 0);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l);
    ps_lease_leave(l, &sent_awaiting);
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l,
                 "a command that reads its own answer");
    ps_lease_leave(l, &answer_read);
    cr_assert_eq(ps_lease_calls(l), 0);
    cr_assert_not(ps_lease_awaiting(l));
    /* an effect: the locked leave keeps the same count */
    static const ps_call_outcome calc_read = {.effects = PS_SQL_FOUND_ROWS, .reply = PS_REPLY_NONE};
    cr_assert_eq(ps_lease_of(ps_activity_enter(&h, &t, true)), l);
    ps_lease_leave(l, &sent_awaiting);
    cr_assert_eq(ps_lease_of(ps_activity_enter_answer(&h, &t)), l);
    ps_lease_leave_pinned(l, &calc_read, false, false);
    cr_assert_eq(ps_lease_calls(l), 0);
}

/* In a fork child the parent's calls are gone, but an answer awaited on an inherited
 * connection keeps its count, until the child's take-over drops that connection: the answer
 * goes with it (a first command that fails, reading nothing, must not leave it awaited). */
Test(lease, fork_child_keeps_an_awaited_answers_count)
{
    int h, t;
    ps_lease *l = live(&h, &t);
    enum ps_enter how;
    cr_assert_eq(ps_lease_enter(&h, &t, PS_CALL_SENDS, &how), l);
    ps_lease_leave(l, &sent_awaiting);
    cr_assert_eq(ps_lease_enter(&h, &t, 0, &how), l); /* a parent thread reading it */
    ps_lease_before_fork();
    ps_lease_after_fork_child(NULL, NULL);
    cr_assert_eq(l->state, PS_LEASE_INHERITED);
    cr_assert_eq(ps_lease_calls(l), 1, "the answer's count, not the parent's read");
    cr_assert_eq(ps_lease_enter(&h, &t, PS_CALL_SENDS, &how), l);
    cr_assert_eq(how, PS_ENTER_TAKEOVER);
    ps_lease_drop_conn(l);
    cr_assert_not(ps_lease_awaiting(l), "the parent's answer went with its connection");
    cr_assert_eq(ps_lease_calls(l), 1, "the take-over's own call only");
    ps_lease_settle(l, NULL, NULL, NULL);
    static const ps_call_outcome failed = {.statement = true, .effects = PS_SQL_RESULTS};
    ps_lease_leave(l, &failed); /* the command failed: nothing read, nothing awaited */
    cr_assert_eq(ps_lease_calls(l), 0);
}
