/* Acquiring connections into handles (see acquire.h). */
#include "poolshim/acquire.h"

#include <stdio.h>
#include <stdlib.h>

#include "poolshim/config.h"
#include "poolshim/leak.h"
#include "poolshim/log.h"
#include "poolshim/reap.h"
#include "poolshim/sql_effects.h"
#include "poolshim/user_vars.h"

/* What obtain got: a LEASED connection whose handle is parked, or a connected handle the pool
 * cannot keep, or nothing (the error is in the app's handle; NOMEM: nothing was tried). */
typedef struct obtained {
    ps_conn *conn;
    void *unpooled;
    bool nomem;
} obtained;

/* Sets the error a connect gets when its key stayed at the cap for the whole wait. */
static void fail_at_cap(const ps_client_ops *cl, void *h, ps_pool *p, int64_t waited_ms)
{
    char detail[300];
    snprintf(detail, sizeof detail,
             "poolshim: all %lld connections of this process for %s stayed in use for %lld ms; "
             "close handles or raise POOLSHIM_MAX_PER_KEY",
             (long long)ps_pool_cap(p), ps_pool_label(p), (long long)waited_ms);
    cl->fail(h, PS_FAIL_TOO_MANY, detail);
    ps_warn(ps_pool_label(p), "connect refused: %lld connections in use for %lld ms",
            (long long)ps_pool_cap(p), (long long)waited_ms);
}

/* True when idle connection C is fit to hand out: pinged first when it idled past the
 * validation window or its socket shows input (a restart or KILL closed it). A dead one is
 * closed. */
static bool still_alive(const ps_client_ops *cl, ps_conn *c)
{
    if (ps_now_ms() - c->idle_since_ms <= ps_cfg.validate_idle_ms &&
        !cl->input_pending(c->handle, c->replies_pending))
        return true;
    bool alive = (!c->replies_pending || cl->settle(c->handle, c)) && cl->validate(c->handle);
    ps_pool_note(c->pool, alive ? PS_EV_VALIDATED : PS_EV_VALIDATION_FAILED);
    if (!alive)
        ps_pool_close(c, PS_CLOSE_GONE);
    return alive;
}

/* Re-authenticates idle connection C with the options of HANDLE, the app's (see
 * reauthenticate). True: C is proven and reads like a new connection. False: C is closed;
 * when the server refused the credentials, so is every other parked connection of its key
 * (their sessions are no better proven), and the key stays refused until a connect succeeds:
 * the caller's real connect then gets the server's own answer. */
static bool reauthenticated(const ps_client_ops *cl, ps_conn *c, void *handle)
{
    ps_pool *p = c->pool;
    ps_connect_error e;
    int64_t start = ps_now_ms();
    enum ps_reauth r = cl->reauthenticate(handle, c, &e);
    ps_pool_note(p, r == PS_REAUTH_REFUSED ? PS_EV_REAUTH_REFUSED : PS_EV_REAUTHENTICATED);
    if (r == PS_REAUTH_OK) {
        ps_pool_login(p, PS_LOGIN_PROVEN, start);
        return true;
    }
    ps_pool_close(c, r == PS_REAUTH_REFUSED ? PS_CLOSE_REFUSED : PS_CLOSE_GONE);
    if (r != PS_REAUTH_REFUSED) {
        ps_debug(ps_pool_label(p), "re-authentication failed (%u %s); closed", e.code, e.message);
        return false;
    }
    ps_pool_login(p, PS_LOGIN_REFUSED, start);
    ps_pool_drain(p, PS_CLOSE_REFUSED);
    ps_info(ps_pool_label(p),
            "the server refused this key's credentials (%u %s): parked connections closed", e.code,
            e.message);
    return false;
}

/* True when idle connection C may be handed to a connect of HANDLE (VERIFY) or to a renewal:
 * alive and, for a connect, its key's credentials proven within POOLSHIM_REVERIFY_MS
 * (re-authenticated here when they are not). A renewal continues a session the program never gave
 * up (the server keeps sessions alive across ALTER USER, DROP USER, REVOKE...): it never
 * re-verifies. A connection that may not be handed out is closed. */
static bool usable(const ps_client_ops *cl, ps_conn *c, void *handle, bool verify)
{
    enum ps_proof proof = verify ? ps_pool_proof(c->pool, ps_cfg.reverify_ms) : PS_PROOF_FRESH;
    /* The answers its park left unread (a deferred reset) are read with the first command of
     * the connect that gets it (see ps_call.unread); anything else here reads them first. */
    if (c->replies_pending && (!verify || proof != PS_PROOF_FRESH) && !cl->settle(c->handle, c)) {
        ps_debug(ps_pool_label(c->pool), "the reset sent at this connection's park failed; closed");
        ps_pool_close(c, PS_CLOSE_DISCARDED);
        return false;
    }
    switch (proof) {
    case PS_PROOF_REFUSED:
        ps_pool_close(c, PS_CLOSE_REFUSED); /* another refusal would only cost a second */
        return false;
    case PS_PROOF_STALE:
        return reauthenticated(cl, c, handle); /* a round trip: proves it alive too */
    case PS_PROOF_FRESH:
    default:
        return still_alive(cl, c);
    }
}

/* Runs a real connect for slot C (CONNECTING) with HANDLE's options and ARGS. Returns C
 * LEASED (handle parked), or NULL: failed (error in HANDLE; *FULL when the server refused it
 * for too many connections), or *UNPOOLED set to a connected handle the pool cannot keep. */
static ps_conn *connect_new(const ps_client_ops *cl, ps_conn *c, void *handle,
                            const ps_connect_args *a, bool *full, void **unpooled)
{
    ps_pool *p = c->pool;
    void *parked = cl->connect_parked(handle, a);
    ps_connect_error unreachable;
    if (!parked) {
        if (cl->unreachable(handle, &unreachable))
            ps_pool_connect_outcome(p, &unreachable, ps_cfg.connect_retry_ms);
        *full = cl->server_full(handle);
        ps_pool_close(c, PS_CLOSE_FAILED);
        return NULL;
    }
    ps_pool_connect_outcome(p, NULL, 0);
    ps_pool_login(p, PS_LOGIN_ACCEPTED, 0);
    const char *why = cl->unpoolable_after(parked);
    void *facts = why ? NULL : cl->record(parked);
    if (!why && !facts)
        why = "out of memory";
    if (why) {
        ps_debug(ps_pool_label(p), "not pooling this connection: %s", why);
        ps_pool_close(c, PS_CLOSE_UNUSED);
        *unpooled = parked;
        return NULL;
    }
    ps_pool_connected(c, parked, facts);
    if (!ps_pool_server_limits_known(p)) {
        ps_server_limits limits;
        cl->server_limits(parked, c, &limits);
        ps_pool_set_server_limits(p, &limits);
    }
    return c;
}

/* True when P is backing off after finding the server unreachable: slot C is given back and
 * HANDLE gets that connect's error, as a new attempt would most likely get. */
static bool backed_off(const ps_client_ops *cl, ps_conn *c, void *handle)
{
    ps_connect_error e;
    if (ps_cfg.connect_retry_ms <= 0 || !ps_pool_backoff(c->pool, &e))
        return false;
    ps_pool_close(c, PS_CLOSE_UNUSED);
    cl->set_error(handle, e.code, e.sqlstate, e.message);
    return true;
}

/* Connects HANDLE past P's cap (see overflow_now), as obtain would a slot. */
static obtained overflow(const ps_client_ops *cl, ps_pool *p, void *handle,
                         const ps_connect_args *a)
{
    obtained r = {ps_pool_acquire_overflow(p), NULL, false};
    bool full = false;
    if (!r.conn)
        return (obtained){NULL, NULL, true};
    ps_debug(ps_pool_label(p), "at the cap: one connection more (overflow)");
    r.conn = connect_new(cl, r.conn, handle, a, &full, &r.unpooled);
    return r;
}

/* Adds a wait of WAITED_MS (negative: none) to the request's total *TOTAL (-1: none yet). */
static void add_wait(int64_t *total, int64_t waited_ms)
{
    if (waited_ms >= 0)
        *total = (*total < 0 ? 0 : *total) + waited_ms;
}

/* True when a connect of P that found it full should overflow now (POOLSHIM_OVERFLOW): its
 * wait is over, or nothing P has open could come back without the program (every connection
 * is leased to a handle the shim cannot reclaim, idle for POOLSHIM_REAP_MIN_IDLE_MS: a handle
 * that was just used, by a thread between its query and its close say, is waited for). */
static bool overflow_now(ps_pool *p, int64_t deadline)
{
    if (!ps_cfg.overflow)
        return false;
    if (ps_now_ms() >= deadline)
        return true;
    ps_pool_stats st;
    int idle, leased, connecting;
    ps_pool_stats_get(p, &st, &idle, &leased, &connecting);
    return idle == 0 && connecting == 0 && leased > 0 &&
           ps_lease_count_pinned(p, ps_cfg.reap_min_idle_ms) >= leased;
}

/* Gets a connection for P (see obtained), reaping at the cap and on the server's 1040.
 * VERIFY: for a connect (see usable). *END says how the request ended, *WAITED_MS how long it
 * waited for a slot in all (-1: never). */
static obtained obtain_counted(const ps_client_ops *cl, ps_pool *p, void *handle,
                               const ps_connect_args *a, bool verify, enum ps_request_end *end,
                               int64_t *waited_ms)
{
    int64_t start = ps_now_ms(), deadline = start + ps_cfg.wait_timeout_ms;
    obtained r = {NULL, NULL, false};
    *end = PS_REQUEST_FAILED;
    for (;;) {
        if (ps_pool_full(p))
            ps_reap_for(cl, p);
        int64_t left = deadline - ps_now_ms(), waited;
        int64_t slice = left < 20 ? (left > 0 ? left : 0) : 20; /* retry reaping meanwhile */
        bool full = false;
        enum ps_acquire got = ps_pool_acquire(p, slice, &r.conn, &waited);
        add_wait(waited_ms, waited);
        switch (got) {
        case PS_ACQUIRE_IDLE:
            if (!usable(cl, r.conn, handle, verify))
                continue;
            *end = PS_REQUEST_IDLE;
            return r;
        case PS_ACQUIRE_CONNECT:
            if (backed_off(cl, r.conn, handle))
                return (obtained){NULL, NULL, false};
            r.conn = connect_new(cl, r.conn, handle, a, &full, &r.unpooled);
            if (full) {
                ps_pool_server_refused(p);
                if (ps_reap_for(cl, p))
                    continue; /* the server is full, but this process held a reapable handle */
            }
            if (r.conn || r.unpooled)
                *end = PS_REQUEST_CONNECTED;
            return r;
        case PS_ACQUIRE_NOMEM:
            return (obtained){NULL, NULL, true};
        case PS_ACQUIRE_TIMEOUT:
        default:
            if (overflow_now(p, deadline)) {
                r = overflow(cl, p, handle, a);
                if (r.conn || r.unpooled)
                    *end = PS_REQUEST_CONNECTED;
                return r;
            }
            if (ps_now_ms() < deadline)
                continue;
            *end = PS_REQUEST_TIMEOUT;
            fail_at_cap(cl, handle, p, ps_now_ms() - start);
            return (obtained){NULL, NULL, false};
        }
    }
}

/* obtain_counted, the request counted once it is over (ps_pool_request_done). */
static obtained obtain(const ps_client_ops *cl, ps_pool *p, void *handle, const ps_connect_args *a,
                       bool verify)
{
    enum ps_request_end end;
    int64_t waited_ms = -1;
    obtained r = obtain_counted(cl, p, handle, a, verify, &end, &waited_ms);
    ps_pool_request_done(p, end, waited_ms);
    return r;
}

/* Starts a lease for connection C now in HANDLE; without one (OOM, foreign I/O methods) the
 * handle keeps its connection, unpooled. */
static enum ps_connected start_lease(const ps_client_ops *cl, ps_conn *c, void *handle)
{
    ps_trace trace;
    ps_trace_capture(&trace);
    bool tracked = cl->track(handle);
    if (tracked && ps_lease_begin(c, handle, cl->transport(handle), &trace))
        return PS_CONNECTED_POOLED;
    ps_debug(ps_pool_label(c->pool), "not pooling handle %p: %s", handle,
             tracked ? "out of memory" : "its I/O methods are not the client library's own");
    c->handle = NULL; /* the program's handle keeps it */
    ps_pool_close(c, PS_CLOSE_UNUSED);
    return PS_CONNECTED_UNPOOLED;
}

enum ps_connected ps_acquire_connect(const ps_client_ops *cl, ps_pool *p, void *handle,
                                     const ps_connect_args *args)
{
    obtained o = obtain(cl, p, handle, args, true);
    if (o.unpooled) {
        void *facts = cl->record(o.unpooled);
        ps_conn unpooled = {.pool = p, .handle = o.unpooled, .facts = facts};
        if (!facts) { /* nothing to show the program a fresh connect's results from */
            cl->close(o.unpooled);
            cl->fail(handle, PS_FAIL_GONE, NULL);
            return PS_CONNECTED_FAILED;
        }
        cl->adopt(handle, &unpooled);
        cl->free_facts(facts);
        return PS_CONNECTED_UNPOOLED;
    }
    if (!o.conn)
        return o.nomem ? PS_CONNECTED_NOMEM : PS_CONNECTED_FAILED;
    cl->adopt(handle, o.conn);
    return start_lease(cl, o.conn, handle);
}

/* Turns L's handle back into a husk after replay R failed on connection C, and closes C. The
 * handle reads as the husk did, with the error of the failed step. */
static void replay_failed(const ps_client_ops *cl, ps_lease *l, ps_conn *c, enum ps_replay r)
{
    char *info = NULL;
    ps_debug(ps_pool_label(c->pool), "replaying handle %p's session: %s", l->handle,
             r == PS_REPLAY_REFUSED ? "refused by the server" : "connection lost");
    void *parked = cl->husk(l->handle, cl->save_results(l->handle), &info);
    if (parked) {
        free(l->husk_info);
        l->husk_info = info;
        cl->close(parked);
    }
    c->handle = NULL;
    ps_pool_close(c, PS_CLOSE_DISCARDED);
}

enum ps_replay ps_acquire_renew(const ps_client_ops *cl, ps_lease *l)
{
    const ps_connect_args *args = ps_pool_args(l->pool);
    void *h = l->handle;
    if (!args || l->husk_variables_lost) {
        /* The session variables died with the connection: this command fails as it would
         * have on it; the next one gets a fresh session, as after any reconnect. */
        l->husk_variables_lost = false;
        l->session.effects &= ~PS_SQL_VARIABLES; /* MOVING: the caller's alone */
        cl->fail(h, PS_FAIL_GONE, NULL);
        return PS_REPLAY_LOST;
    }
    bool lost = false;
    const char *user_vars = ps_user_vars_statement(l->user_vars, &lost);
    if (lost) { /* out of memory: the user variables cannot be set again; try next time */
        cl->fail(h, PS_FAIL_GONE, NULL);
        return PS_REPLAY_LOST;
    }
    obtained o = obtain(cl, l->pool, h, args, false);
    if (o.unpooled) { /* a renewal must replay the session: only a pooled connection can */
        cl->close(o.unpooled);
        cl->fail(h, PS_FAIL_GONE, NULL);
        return PS_REPLAY_LOST;
    }
    if (!o.conn) {
        if (o.nomem)
            cl->fail(h, PS_FAIL_GONE, NULL);
        return PS_REPLAY_LOST;
    }
    enum ps_replay r = cl->renew(h, o.conn, &l->session.values, l->husk_variables, user_vars);
    if (r != PS_REPLAY_DONE) {
        replay_failed(cl, l, o.conn, r);
        return r;
    }
    o.conn->handle = h;
    cl->track(h);
    free(l->husk_info);
    free(l->husk_variables);
    l->husk_info = l->husk_variables = NULL;
    l->session.values.diagnostics_known = false; /* given back: the next reap reads them again */
    l->session.lasting |= PS_SQL_RESULTS; /* the replay's statements show: reset at release */
    ps_lease_settle(l, o.conn, cl->transport(h), NULL);
    ps_pool_note(l->pool, PS_EV_RENEWED);
    return PS_REPLAY_DONE;
}
