/* The pool core with fake handles: the connection state machine (every legal move, illegal
 * ones refused), cap, LIFO reuse, FIFO waiting, timeouts, expiry, re-key, fork, the proof of
 * a key's credentials. After every test the pool's own invariant check must find nothing. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "poolshim/config.h"
#include "poolshim/pool.h"

static int destroyed, forgotten, facts_freed;
static int handle_storage; /* the fake handle every connected connection gets */

static void fake_destroy(void *h)
{
    (void)h;
    __atomic_add_fetch(&destroyed, 1, __ATOMIC_SEQ_CST);
}

static void fake_forget(void *h)
{
    (void)h;
    forgotten++;
}

static void fake_free_facts(void *f)
{
    (void)f;
    facts_freed++;
}

static void setup(void)
{
    static const ps_pool_ops ops = {fake_destroy, fake_forget, fake_free_facts, NULL};
    ps_config_defaults(&ps_cfg);
    ps_cfg.max_per_key = 2;
    ps_cfg.wait_timeout_ms = 200;
    ps_pool_set_ops(&ops);
    destroyed = forgotten = facts_freed = 0;
}

static void report(const char *what, void *ctx)
{
    (void)ctx;
    cr_log_error("%s", what);
}

/* Every test ends with the pool's lists, counts and states in step. */
static void teardown(void)
{
    cr_assert_eq(ps_pool_check(report, NULL), 0, "pool invariants violated");
}

TestSuite(pool, .init = setup, .fini = teardown);

/* A unique pool per test (pools live for the process). */
static ps_pool *fresh_pool(const char *name)
{
    ps_pool *p = ps_pool_get(name, name);
    cr_assert_not_null(p);
    return p;
}

/* Acquires expecting KIND; returns the conn for IDLE, or a new LEASED conn for CONNECT. */
static ps_conn *lease(ps_pool *p, enum ps_acquire kind)
{
    ps_conn *c;
    int64_t waited;
    enum ps_acquire r = ps_pool_acquire(p, ps_cfg.wait_timeout_ms, &c, &waited);
    cr_assert_eq(r, kind, "acquire gave %d, expected %d", r, kind);
    if (r == PS_ACQUIRE_CONNECT) {
        cr_assert_eq(c->state, PS_CONN_CONNECTING);
        ps_pool_connected(c, &handle_storage, &handle_storage);
    }
    cr_assert_eq(c->state, PS_CONN_LEASED);
    return c;
}

static void sizes(ps_pool *p, int *idle, int *leased, int *connecting, ps_pool_stats *st)
{
    ps_pool_stats s;
    ps_pool_stats_get(p, st ? st : &s, idle, leased, connecting);
}

Test(pool, same_key_same_pool_different_key_other_pool)
{
    ps_pool *a = fresh_pool("k-same"), *b = fresh_pool("k-same"), *c = fresh_pool("k-other");
    cr_assert_eq(a, b);
    cr_assert_neq(a, c);
}

Test(pool, reuses_parked_connections_lifo)
{
    ps_pool *p = fresh_pool("k-lifo");
    ps_conn *c1 = lease(p, PS_ACQUIRE_CONNECT), *c2 = lease(p, PS_ACQUIRE_CONNECT);
    int h1, h2;
    ps_pool_park(c1, &h1);
    ps_pool_park(c2, &h2);
    ps_conn *again = lease(p, PS_ACQUIRE_IDLE);
    cr_assert_eq(again->handle, &h2, "most recently parked should come first");
    int idle, leased, connecting;
    ps_pool_stats st;
    sizes(p, &idle, &leased, &connecting, &st);
    cr_assert_eq(idle, 1);
    cr_assert_eq(leased, 1);
    cr_assert_eq(st.connects, 2);
    cr_assert_eq(st.reuses, 1);
}

Test(pool, cap_makes_callers_wait_then_time_out)
{
    ps_pool *p = fresh_pool("k-cap");
    lease(p, PS_ACQUIRE_CONNECT);
    lease(p, PS_ACQUIRE_CONNECT);
    ps_conn *c;
    int64_t waited;
    cr_assert_eq(ps_pool_acquire(p, 150, &c, &waited), PS_ACQUIRE_TIMEOUT);
    cr_assert_geq(waited, 140);
    ps_pool_stats st;
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, &st);
    cr_assert_eq(st.waits + st.wait_timeouts + st.requests, 0, "the caller counts its request");
    cr_assert_eq(st.waiting, 0);
    ps_pool_request_done(p, PS_REQUEST_TIMEOUT, waited);
    ps_pool_request_done(p, PS_REQUEST_IDLE, -1); /* one that did not wait */
    sizes(p, &idle, &leased, &connecting, &st);
    cr_assert_eq(st.requests, 2);
    cr_assert_eq(st.served_idle, 1);
    cr_assert_eq(st.waits, 1);
    cr_assert_eq(st.wait_timeouts, 1);
    cr_assert_eq(st.wait_ms_total, waited);
    cr_assert_eq(st.max_wait_ms, waited);
    cr_assert_eq(leased, 2);
}

Test(pool, failed_connect_gives_the_slot_back)
{
    ps_pool *p = fresh_pool("k-fail");
    ps_conn *c;
    int64_t waited;
    cr_assert_eq(ps_pool_acquire(p, 0, &c, &waited), PS_ACQUIRE_CONNECT);
    ps_pool_close(c, PS_CLOSE_FAILED);
    int idle, leased, connecting;
    ps_pool_stats st;
    sizes(p, &idle, &leased, &connecting, &st);
    cr_assert_eq(idle + leased + connecting, 0);
    cr_assert_eq(st.connect_failures, 1);
    cr_assert_eq(destroyed, 0, "a failed slot has no handle to close");
}

/* A waiter thread: acquires and records what it got and in which order. */
typedef struct waiter_arg {
    ps_pool *p;
    int id;
    enum ps_acquire got;
    ps_conn *conn;
} waiter_arg;

static int order[8], order_n;
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;

/* Waits until N callers wait on P (the waiter threads queue in a known order). */
static void await_waits(ps_pool *p, int n)
{
    ps_pool_stats st;
    int i, l, c;
    for (sizes(p, &i, &l, &c, &st); st.waiting < n; sizes(p, &i, &l, &c, &st))
        usleep(1000);
}

/* Waits until N waiters were served. */
static void await_served(int n)
{
    for (;;) {
        pthread_mutex_lock(&order_lock);
        int got = order_n;
        pthread_mutex_unlock(&order_lock);
        if (got >= n)
            return;
        usleep(1000);
    }
}

static void *waiter(void *v)
{
    waiter_arg *a = v;
    int64_t waited;
    a->got = ps_pool_acquire(a->p, 600000, &a->conn, &waited); /* never times out here */
    pthread_mutex_lock(&order_lock);
    order[order_n++] = a->id;
    pthread_mutex_unlock(&order_lock);
    return NULL;
}

Test(pool, waiters_are_served_in_arrival_order)
{
    ps_pool *p = fresh_pool("k-fifo");
    ps_conn *c1 = lease(p, PS_ACQUIRE_CONNECT), *c2 = lease(p, PS_ACQUIRE_CONNECT);
    pthread_t t[3];
    waiter_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (waiter_arg){.p = p, .id = i};
        pthread_create(&t[i], NULL, waiter, &args[i]);
        await_waits(p, i + 1); /* arrive in order 0, 1, 2 */
    }
    int h;
    ps_pool_park(c1, &h); /* handed to waiter 0 as an idle connection */
    await_served(1);
    c2->handle = NULL;
    ps_pool_close(c2, PS_CLOSE_GONE); /* its slot goes to waiter 1 */
    await_served(2);
    pthread_mutex_lock(&order_lock);
    cr_assert_eq(order_n, 2);
    pthread_mutex_unlock(&order_lock);
    cr_assert_eq(order[0], 0);
    cr_assert_eq(order[1], 1);
    cr_assert_eq(args[0].got, PS_ACQUIRE_IDLE);
    cr_assert_eq(args[0].conn->handle, &h);
    cr_assert_eq(args[1].got, PS_ACQUIRE_CONNECT);
    ps_pool_close(args[1].conn, PS_CLOSE_FAILED); /* waiter 1's connect fails: to waiter 2 */
    pthread_join(t[2], NULL);
    cr_assert_eq(args[2].got, PS_ACQUIRE_CONNECT);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    ps_pool_close(args[2].conn, PS_CLOSE_FAILED);
    args[0].conn->handle = NULL;
    ps_pool_close(args[0].conn, PS_CLOSE_GONE);
}

Test(pool, idle_timeout_destroys_instead_of_reusing)
{
    ps_cfg.idle_timeout_ms = 50;
    ps_pool *p = fresh_pool("k-idle");
    ps_conn *c = lease(p, PS_ACQUIRE_CONNECT);
    int h;
    ps_pool_park(c, &h);
    usleep(80000);
    lease(p, PS_ACQUIRE_CONNECT); /* the idle one expired on the way */
    cr_assert_eq(destroyed, 1);
}

Test(pool, lifetime_retires_at_park_with_jitter_below_the_limit)
{
    ps_cfg.max_lifetime_ms = 40;
    ps_pool *p = fresh_pool("k-life");
    ps_conn *c = lease(p, PS_ACQUIRE_CONNECT);
    cr_assert_leq(c->expires_ms - c->created_ms, 40);
    cr_assert_geq(c->expires_ms - c->created_ms, 39);
    usleep(60000);
    int h;
    ps_pool_park(c, &h);
    cr_assert_eq(destroyed, 1);
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, NULL);
    cr_assert_eq(idle + leased, 0);
}

Test(pool, jitter_spreads_expiry)
{
    ps_cfg.max_lifetime_ms = 1000000;
    ps_cfg.max_per_key = 100;
    ps_pool *p = fresh_pool("k-jitter");
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 50; i++) {
        ps_conn *c = lease(p, PS_ACQUIRE_CONNECT);
        int64_t life = c->expires_ms - c->created_ms;
        lo = life < lo ? life : lo;
        hi = life > hi ? life : hi;
        cr_assert_geq(life, 1000000 - 25000);
    }
    cr_assert_gt(hi - lo, 1000, "lifetimes not spread: %lld..%lld", (long long)lo, (long long)hi);
}

Test(pool, move_may_exceed_the_cap_and_surplus_is_closed_at_release)
{
    ps_pool *a = fresh_pool("k-move-a"), *b = fresh_pool("k-move-b");
    ps_conn *cb1 = lease(b, PS_ACQUIRE_CONNECT);
    lease(b, PS_ACQUIRE_CONNECT);
    ps_conn *ca = lease(a, PS_ACQUIRE_CONNECT);
    ps_pool_move(ca, b);
    int idle, leased, connecting;
    sizes(b, &idle, &leased, &connecting, NULL);
    cr_assert_eq(leased, 3);
    int h;
    ps_pool_park(cb1, &h); /* over the cap: closed, not parked */
    cr_assert_eq(destroyed, 1);
    sizes(a, &idle, &leased, &connecting, NULL);
    cr_assert_eq(leased, 0);
}

Test(pool, drain_destroys_every_idle_connection)
{
    ps_pool *p = fresh_pool("k-drain");
    ps_conn *c1 = lease(p, PS_ACQUIRE_CONNECT), *c2 = lease(p, PS_ACQUIRE_CONNECT);
    int h1, h2;
    ps_pool_park(c1, &h1);
    ps_pool_park(c2, &h2);
    ps_pool_drain_all();
    cr_assert_geq(destroyed, 2);
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, NULL);
    cr_assert_eq(idle, 0);
}

static int kept_handle; /* the parked handle keep_only_this keeps */

static bool keep_only_this(void *handle)
{
    return handle == &kept_handle;
}

/* mysql_server_end: only the connections the client layer says cannot outlive it are closed. */
Test(pool, drain_with_a_predicate_closes_only_what_it_rejects)
{
    ps_pool *p = fresh_pool("k-drain-some");
    ps_conn *c1 = lease(p, PS_ACQUIRE_CONNECT), *c2 = lease(p, PS_ACQUIRE_CONNECT);
    int other;
    ps_pool_park(c1, &kept_handle);
    ps_pool_park(c2, &other);
    int kept = -1, closed = ps_pool_drain_except(keep_only_this, &kept);
    cr_assert_geq(closed, 1);
    cr_assert_geq(kept, 1);
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, NULL);
    cr_assert_eq(idle, 1);
    cr_assert_eq(lease(p, PS_ACQUIRE_IDLE)->handle, &kept_handle);
}

Test(pool, drain_of_one_pool_closes_its_idle_connections_only)
{
    ps_pool *p = fresh_pool("k-drain-one"), *other = fresh_pool("k-drain-other");
    ps_conn *c1 = lease(p, PS_ACQUIRE_CONNECT), *c2 = lease(p, PS_ACQUIRE_CONNECT);
    ps_conn *o = lease(other, PS_ACQUIRE_CONNECT);
    int h1, h2, ho;
    ps_pool_park(c1, &h1);
    ps_pool_park(o, &ho);
    ps_pool_drain(p, PS_CLOSE_REFUSED);
    cr_assert_eq(destroyed, 1);
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, NULL);
    cr_assert_eq(idle, 0);
    cr_assert_eq(leased, 1, "a leased connection is the program's");
    sizes(other, &idle, &leased, &connecting, NULL);
    cr_assert_eq(idle, 1);
    ps_pool_park(c2, &h2);
}

Test(pool, credentials_are_proven_for_a_window_by_a_re_authentication_only)
{
    ps_pool *p = fresh_pool("k-proof");
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_STALE, "never proven");
    ps_pool_login(p, PS_LOGIN_ACCEPTED, 0);
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_STALE, "a real connect proves nothing");
    ps_pool_login(p, PS_LOGIN_PROVEN, ps_now_ms());
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_FRESH);
    cr_assert_eq(ps_pool_proof(p, 0), PS_PROOF_STALE, "a zero window re-verifies every reuse");
    ps_pool_login(p, PS_LOGIN_PROVEN, ps_now_ms() - 61000);
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_FRESH, "an older proof does not replace one");
    ps_pool *q = fresh_pool("k-proof-old");
    ps_pool_login(q, PS_LOGIN_PROVEN, ps_now_ms() - 61000);
    cr_assert_eq(ps_pool_proof(q, 60000), PS_PROOF_STALE, "past the window");
}

Test(pool, a_refusal_holds_until_a_connect_succeeds_or_a_later_proof)
{
    ps_pool *p = fresh_pool("k-refused");
    int64_t now = ps_now_ms();
    ps_pool_login(p, PS_LOGIN_PROVEN, now - 10);
    ps_pool_login(p, PS_LOGIN_REFUSED, now - 5);
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_REFUSED);
    ps_pool_login(p, PS_LOGIN_PROVEN, now - 6); /* started before the refusal */
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_REFUSED, "an older success undid it");
    ps_pool_login(p, PS_LOGIN_ACCEPTED, 0);
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_STALE, "a connect ends it, proves nothing");
    ps_pool_login(p, PS_LOGIN_REFUSED, now);
    ps_pool_login(p, PS_LOGIN_PROVEN, now + 1);
    cr_assert_eq(ps_pool_proof(p, 60000), PS_PROOF_FRESH, "a later proof ends it");
}

Test(pool, fork_child_forgets_the_parents_idle_connections)
{
    ps_pool *p = fresh_pool("k-fork");
    ps_conn *c = lease(p, PS_ACQUIRE_CONNECT), *held = lease(p, PS_ACQUIRE_CONNECT);
    int h;
    ps_pool_park(c, &h);
    ps_pool_before_fork();
    ps_pool_after_fork_child(); /* simulate the child side in-process */
    cr_assert_eq(forgotten, 0, "freed later, not inside the fork handler");
    ps_pool_drain_all(); /* the child's exit (or its next acquire) */
    cr_assert_eq(forgotten, 1);
    cr_assert_eq(destroyed, 0, "a child must never close the parent's connections");
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, NULL);
    cr_assert_eq(idle, 0);
    cr_assert_eq(leased, 0, "the parent's leases do not count against the child's cap");
    cr_assert_eq(held->state, PS_CONN_INHERITED);
    ps_pool_close(held, PS_CLOSE_ABANDONED); /* the child closes the inherited handle */
    sizes(p, &idle, &leased, &connecting, NULL);
    cr_assert_eq(leased, 0, "closing an inherited connection must not touch the counts");
    cr_assert_eq(forgotten, 2, "an inherited connection is abandoned, never closed");
    cr_assert_eq(destroyed, 0);
}

Test(pool, every_move_is_counted_where_it_belongs)
{
    ps_pool *p = fresh_pool("k-moves");
    ps_conn *c = lease(p, PS_ACQUIRE_CONNECT); /* NEW -> CONNECTING -> LEASED */
    int h;
    ps_pool_park(c, &h);           /* LEASED -> IDLE */
    c = lease(p, PS_ACQUIRE_IDLE); /* IDLE -> LEASED */
    c->handle = NULL;
    ps_pool_close(c, PS_CLOSE_DISCARDED); /* LEASED -> CLOSED */
    ps_pool_stats st;
    int idle, leased, connecting;
    sizes(p, &idle, &leased, &connecting, &st);
    cr_assert_eq(st.connects, 1);
    cr_assert_eq(st.parks, 1);
    cr_assert_eq(st.reuses, 1);
    cr_assert_eq(st.discards, 1);
    cr_assert_eq(st.expired, 0);
    cr_assert_eq(st.peak_open, 1);
    cr_assert_eq(idle + leased + connecting, 0);
    cr_assert_eq(facts_freed, 1, "a closed connection's client facts are freed");
    cr_assert_eq(destroyed, 0, "the caller closed the handle itself");
}

Test(pool, a_closed_idle_connection_has_its_handle_closed_by_the_pool)
{
    ps_pool *p = fresh_pool("k-gone");
    ps_conn *c = lease(p, PS_ACQUIRE_CONNECT);
    int h;
    ps_pool_park(c, &h);
    c = lease(p, PS_ACQUIRE_IDLE);
    ps_pool_park(c, &h);
    cr_assert_eq(c->state, PS_CONN_IDLE);
    ps_pool_close(c, PS_CLOSE_GONE); /* found dead at validation: IDLE -> CLOSED */
    cr_assert_eq(destroyed, 1);
}

/* An illegal move: parking a connection that is already parked. */
static void park_twice(void)
{
    ps_pool *p = fresh_pool("k-illegal");
    ps_conn *c = lease(p, PS_ACQUIRE_CONNECT);
    int h;
    ps_pool_park(c, &h);
    ps_pool_move(c, fresh_pool("k-illegal-2")); /* IDLE -> LEASED of another pool: illegal */
}

#ifdef POOLSHIM_STRICT
Test(pool_strict, an_illegal_move_aborts, .signal = SIGABRT, .init = setup)
{
    park_twice();
}
#else
Test(pool_lenient, an_illegal_move_is_refused_and_reported, .init = setup)
{
    park_twice();
    cr_assert_gt(ps_pool_check(NULL, NULL), 0, "the refused move must be reported");
}
#endif
