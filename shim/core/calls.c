/* Activity tracking (see calls.h): the lease's bookkeeping around each call, and the renewal
 * of a reaped or inherited handle before its next command. */
#include "poolshim/calls.h"

#include <stdio.h>

#include "poolshim/acquire.h"
#include "poolshim/config.h"
#include "poolshim/fork.h"
#include "poolshim/leak.h"
#include "poolshim/lease.h"
#include "poolshim/log.h"
#include "poolshim/metrics.h"
#include "poolshim/querylog.h"
#include "poolshim/reap.h"
#include "poolshim/sql_redact.h"
#include "poolshim/user_vars.h"

static const ps_client_ops *client;

void ps_calls_init(const ps_client_ops *cl)
{
    client = cl;
}

/* Gets moving lease L (the caller's) a connection of its own before its call, per HOW. DONE
 * when the call may go on (L is LIVE); else why not (see ps_acquire_renew). */
static enum ps_replay renew(const ps_client_ops *cl, ps_lease *l, enum ps_enter how)
{
    if (how == PS_ENTER_TAKEOVER && !ps_fork_take_over(cl, l))
        return PS_REPLAY_LOST;
    if (l->activity.conn && !ps_reap(cl, l))
        return PS_REPLAY_DONE; /* idle past the server's patience, but not reapable: LIVE */
    return ps_acquire_renew(cl, l);
}

/* The PS_CALL_* bits of a call on H that sends a command when SENDS_COMMAND. */
static unsigned call_kind(const ps_client_ops *cl, void *h, bool sends_command)
{
    if (!sends_command)
        return 0;
    return PS_CALL_SENDS | (cl->reconnects(h) ? PS_CALL_RECONNECTS : 0);
}

/* Ends the move of lease L (the caller's) whose renewal for H's call, entered as HOW, ended
 * with R: broken when the server refused the session (or a broken lease's try failed), else
 * reaped (a husk whose next command tries again); the call is over. */
static void renewal_failed(ps_lease *l, void *h, enum ps_enter how, enum ps_replay r)
{
    static const ps_call_outcome failed = {.statement = false};
    if (r == PS_REPLAY_REFUSED && how != PS_ENTER_RECONNECT)
        ps_warn(ps_pool_label(l->pool),
                "could not replay the session of reaped handle %p (its error says why): the "
                "handle now fails like a connection the server dropped",
                h);
    if (r == PS_REPLAY_REFUSED || how == PS_ENTER_RECONNECT)
        ps_lease_break(l);
    else
        ps_lease_settle(l, NULL, NULL, NULL);
    ps_lease_leave(l, &failed);
}

/* Catches up the session of H (CALL's lease, live) before its command: the answers its park
 * left unread (read by the caller right after its send when it can: CALL->unread, else here)
 * and the autocommit mode H shows (ps_client_ops.sync). True when the command may go out;
 * false when the connection failed under it: the call is over (H carries the error). Out of
 * line: rare. */
__attribute__((noinline, cold)) static bool catch_up(const ps_client_ops *cl, ps_call *call,
                                                     void *h)
{
    ps_lease *l = ps_lease_of(call->activity);
    ps_conn *c = l->activity.conn;
    if (c->replies_pending && !c->sync_pending && call->reads_after_send) {
        c->replies_pending = false;
        call->unread = c; /* one round trip with the command */
        return true;
    }
    if ((!c->replies_pending || cl->settle(h, c)) && (!c->sync_pending || cl->sync(h, c)))
        return true;
    static const ps_call_outcome failed = {.statement = false, .effects = PS_SQL_RESULTS};
    ps_lease_leave(l, &failed);
    call->activity = NULL;
    return false;
}

/* True when H (CALL's lease, live) may send its command now; see catch_up. */
static inline bool caught_up(const ps_client_ops *cl, ps_call *call, void *h)
{
    const ps_conn *c = call->activity->conn;
    return !(c->replies_pending | c->sync_pending) || catch_up(cl, call, h);
}

/* ps_call_begin when the lock-free begin did not take the call: an untracked handle, a lease
 * that is not LIVE with an open gate, one to renew first, or a connection to catch up. Out of
 * line: rare. */
__attribute__((noinline)) static bool begin_locked(ps_call *call, void *h, bool sends_command)
{
    const ps_client_ops *cl = client;
    if (!cl) {
        call->activity = NULL;
        return true;
    }
    enum ps_enter how;
    ps_lease *l = ps_lease_enter(h, call->transport, call_kind(cl, h, sends_command), &how);
    call->activity = l ? &l->activity : NULL;
    if (how == PS_ENTER_BROKEN) { /* its session is gone, as if the server had dropped it */
        cl->fail(h, PS_FAIL_GONE, NULL);
        return false;
    }
    if (how == PS_ENTER_UNTRACKED)
        return true;
    if (how == PS_ENTER_CALL)
        return !sends_command || caught_up(cl, call, h);
    enum ps_replay r = renew(cl, l, how);
    if (r == PS_REPLAY_DONE)
        return caught_up(cl, call, h);
    renewal_failed(l, h, how, r);
    call->activity = NULL;
    return false;
}

/* ps_call_begin once ps_call_begin_fast declined the call (the hooks' begin). */
static bool begin_declined(ps_call *call, void *h, void *transport, bool sends_command)
{
    call->transport = transport;
    call->answer = false;
    return begin_locked(call, h, sends_command);
}

bool ps_call_begin(ps_call *call, void *h, bool sends_command)
{
    const ps_client_ops *cl = client;
    void *transport = cl ? cl->transport(h) : NULL;
    call->transport = transport; /* whichever begin takes it (the caller may read it) */
    return ps_call_begin_fast(call, h, transport, sends_command) ||
           begin_declined(call, h, transport, sends_command);
}

/* Writes H's call (outcome O, lease L or NULL) to the query log. Out of line: the calls of a
 * program without a query log must not pay for its registers. */
__attribute__((noinline, cold)) static void log_call(ps_lease *l, void *h, const ps_call_outcome *o)
{
    const ps_call_detail *d = o->detail;
    if (d && d->command)
        ps_qlog_command(h, l ? ps_pool_label(l->pool) : NULL, l ? l->id : 0, d->start_ns, d->kind,
                        d->text, d->text_len, d->stmt_id);
    else
        ps_qlog_response(h, d ? d->stmt_id : 0);
}

/* Fills P with what the call with outcome O did to pin L's session, and the program's stack:
 * the statement (redacted), or what kind of call it was. */
static void describe_pin(ps_lease_pin *p, const ps_lease *l, const ps_call_outcome *o)
{
    const ps_call_detail *d = o->detail;
    if (d && d->text)
        ps_sql_redact(d->text, d->text_len, p->statement, sizeof p->statement);
    else
        snprintf(p->statement, sizeof p->statement, "%s",
                 d ? "(a command that is not a statement: mysql_set_server_option, "
                     "mysql_stmt_execute, mysql_kill...)"
                   : "(the server reported a session-state change for the last statement: a "
                     "trigger, view or stored routine)");
    ps_trace_pin(&p->trace, &l->trace, p->statement);
}

/* True when the call with outcome O touches what lease L keeps of its user variables: it set
 * some to literals, the program reset its session, or the server reported session variables
 * changed while some are kept. */
static inline bool touches_user_vars(const ps_lease *l, const ps_call_outcome *o)
{
    return l &&
           ((o->effects & PS_SQL_USER_VARIABLES) || o->app_reset || (o->variables && l->user_vars));
}

/* Keeps in lease L (in a call: the caller's) what the call with outcome O did to its user
 * variables; the effects O has once that is known: with PS_SQL_SESSION added when they can no
 * longer be given back (see user_vars.h). */
__attribute__((noinline, cold)) static unsigned keep_user_vars(ps_lease *l,
                                                               const ps_call_outcome *o)
{
    bool exact = true;
    if (o->app_reset)
        ps_user_vars_reset(&l->user_vars);
    const ps_call_detail *d = o->detail;
    if (o->effects & PS_SQL_USER_VARIABLES)
        exact = d && d->text && d->kind == PS_QLOG_QUERY &&
                ps_user_vars_assign(&l->user_vars, d->text, d->text_len);
    if (o->variables && !ps_user_vars_still_exact(l->user_vars, o->variables))
        exact = false;
    return exact ? o->effects : o->effects | PS_SQL_SESSION;
}

/* ps_call_end for a call to log, or that pins L's session or touches its user variables (L
 * may be NULL; COUNTED: it entered counted, not as a read of an awaited answer). Out of line: a
 * plain call must not pay for its registers. */
__attribute__((noinline, cold)) static void end_noted(ps_lease *l, void *h,
                                                      const ps_call_outcome *o, bool counted)
{
    ps_call_outcome kept;
    if (touches_user_vars(l, o)) {
        kept = *o;
        kept.effects = keep_user_vars(l, o);
        o = &kept;
    }
    if (ps_qlog_on())
        log_call(l, h, o);
    if (!l)
        return;
    bool pins = (o->effects & PS_LEASE_PINNING) && ps_cfg.leak_warn_ms > 0 &&
                !__atomic_load_n(&l->pinned, __ATOMIC_ACQUIRE);
    if (pins) /* the first statement that pins the session, once per lease */
        describe_pin(&l->pin, l, o);
    if (pins || (o->effects & PS_LEASE_PINNING) || !counted)
        ps_lease_leave_pinned(l, o, counted, pins);
    else
        ps_lease_leave(l, o);
}

/* ps_call_end for a call that ps_call_end_fast did not end: not plain (see
 * ps_call_outcome_plain), on an untracked handle, while the query log is on, or with its
 * lease's gate shut: past the noted calls, what is left on a lease takes the lock. */
__attribute__((noinline)) static void end_other(ps_call *call, void *h, const ps_call_outcome *o)
{
    ps_lease *l = ps_lease_of(call->activity);
    bool noted = ps_qlog_on() || (o->effects & (PS_LEASE_PINNING | PS_SQL_USER_VARIABLES)) ||
                 o->app_reset || (o->variables && l && l->user_vars);
    if (__builtin_expect(noted, 0))
        end_noted(l, h, o, !call->answer);
    else if (l)
        ps_lease_leave_pinned(l, o, !call->answer, false);
}

/* After the end of a call with outcome O: the metrics, once per statement. */
static inline void ended(const ps_call_outcome *o)
{
    if (o->reply != PS_REPLY_AWAITED && ps_cfg.metrics_dir[0])
        ps_metrics_tick();
}

/* ps_call_end once ps_call_end_fast declined the call (the hooks' end). */
static void end_declined(ps_call *call, void *h, const ps_call_outcome *o)
{
    end_other(call, h, o);
    ended(o);
}

void ps_call_end(ps_call *call, void *h, const ps_call_outcome *o)
{
    if (ps_call_end_fast(call, o))
        ended(o);
    else
        end_declined(call, h, o);
}

const ps_call_hooks *ps_calls_hooks(void)
{
    static ps_call_hooks table = {.begin = begin_declined, .end = end_declined};
    table.tick = ps_cfg.metrics_dir[0] ? ps_metrics_tick : NULL;
    return &table;
}
