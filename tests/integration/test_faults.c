/* Server faults: restarts, KILLs and an unreachable server. Under the shim only the statements
 * in flight fail, with the error the program would get without it; a parked connection the
 * server closed is never handed out; connects to an unreachable server back off briefly. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pstest.h"

/* Starts this test's own server and tells outage_probe how to restart it. */
static void own_server(void)
{
    char cmd[512];
    pstest_sandbox_start("");
    snprintf(cmd, sizeof cmd, "%s restart %s >/dev/null", pstest_env("PSTEST_SANDBOX_SCRIPT"),
             pstest_sandbox_dir());
    setenv("PSTEST_RESTART_CMD", cmd, 1);
}

/* Runs outage_probe with up to two arguments and extra ENV, under the shim or not. */
static pstest_result outage_probe(const char *a1, const char *a2, const char *const env[],
                                  bool preload)
{
    const char *argv[] = {"outage_probe", a1, a2, NULL};
    pstest_result r = pstest_run(argv, env, preload);
    pstest_assert_ok(&r, a1);
    return r;
}

/* True when every code in the comma-separated CODES is one a lost server can give. */
static bool only_outage_codes(const char *codes)
{
    static const char *const allowed[] = {"2002", "2003", "2006", "2013", "1053", "1927"};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", codes ? codes : "");
    for (char *save, *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
            ok = ok || strcmp(c, allowed[i]) == 0;
        if (!ok)
            return false;
    }
    return true;
}

Test(faults, server_restart_mid_run_only_fails_requests_in_flight, .init = own_server,
     .fini = pstest_sandbox_stop, .timeout = 180)
{
    pstest_result plain = outage_probe("restart", "6", NULL, false);
    pstest_result r = outage_probe("restart", "6", NULL, true);
    fprintf(stderr, "restart: shim: %lld errors of %lld requests; no shim: %lld of %lld\n",
            pstest_value_ll(&r, "errors"), pstest_value_ll(&r, "requests"),
            pstest_value_ll(&plain, "errors"), pstest_value_ll(&plain, "requests"));
    cr_expect_eq(pstest_value_ll(&r, "errors_late"), 0, "%s\n%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "dead_handouts"), 0, "%s", r.out);
    cr_expect_gt(pstest_value_ll(&r, "requests"), 100, "%s", r.out);
    cr_expect(only_outage_codes(pstest_line_value(r.out, "error_codes")), "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "held_errno"), pstest_value_ll(&plain, "held_errno"),
                 "a held handle must fail as it does without the shim\n%s\n%s", r.out, plain.out);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}

Test(faults, parked_connections_the_restart_killed_are_never_handed_out, .init = own_server,
     .fini = pstest_sandbox_stop, .timeout = 120)
{
    /* Pinging before reuse is switched off: only the shim's socket check protects. */
    const char *env[] = {"POOLSHIM_VALIDATE_IDLE_MS=600000", NULL};
    pstest_result r = outage_probe("restart_parked", NULL, env, true);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 0, "%s\n%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "dead_handouts"), 0, "%s", r.out);
    pstest_result_free(&r);
}

Test(faults, kill_of_a_leased_connection_gives_the_unshimmed_error, .timeout = 60)
{
    static const char *const keys[] = {"query_rc",    "errno",       "sqlstate",     "error",
                                       "again_errno", "again_error", "reconnect_ok", "new_session"};
    pstest_result plain = outage_probe("kill_leased", NULL, NULL, false);
    pstest_result r = outage_probe("kill_leased", NULL, NULL, true);
    pstest_expect_same_values(&r, &plain, keys, sizeof keys / sizeof *keys);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}

/* A TCP endpoint that accepts and immediately closes every connection: a server that cannot
 * serve. Counts the connection attempts that reached it. */
typedef struct {
    int fd;
    unsigned port;
    long accepted;
    pthread_t thread;
} dropper;

/* Accept loop of a dropper; ends when its socket is shut down. */
static void *drop_all(void *arg)
{
    dropper *d = arg;
    int c;
    while ((c = accept(d->fd, NULL, NULL)) >= 0) {
        __atomic_add_fetch(&d->accepted, 1, __ATOMIC_RELAXED);
        close(c);
    }
    return NULL;
}

/* Starts a dropper on an ephemeral 127.0.0.1 port. */
static void dropper_start(dropper *d)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    d->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(d->fd >= 0 && bind(d->fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(d->fd, 128) == 0 && getsockname(d->fd, (struct sockaddr *)&a, &len) == 0);
    d->port = ntohs(a.sin_port);
    d->accepted = 0;
    pthread_create(&d->thread, NULL, drop_all, d);
}

/* Stops D and returns how many connections it accepted. */
static long dropper_stop(dropper *d)
{
    shutdown(d->fd, SHUT_RDWR);
    pthread_join(d->thread, NULL);
    close(d->fd);
    return d->accepted;
}

/* Runs 300 connects against D; returns the attempts that reached it, *OUT the output. */
static long unreachable_run(dropper *d, bool preload, pstest_result *out)
{
    char port[16];
    dropper_start(d);
    snprintf(port, sizeof port, "%u", d->port);
    const char *argv[] = {"outage_probe", "unreachable", "300", port, NULL};
    *out = pstest_run(argv, NULL, preload);
    long n = dropper_stop(d);
    pstest_assert_ok(out, "outage_probe unreachable");
    return n;
}

Test(faults, connects_to_an_unreachable_server_back_off_with_the_same_error, .timeout = 60)
{
    dropper d;
    pstest_result plain, r;
    long reached_plain = unreachable_run(&d, false, &plain);
    long reached = unreachable_run(&d, true, &r);
    long long elapsed = pstest_value_ll(&r, "elapsed_ms");
    fprintf(stderr,
            "unreachable: 300 connects reached the server %ld times without the shim, "
            "%ld with it (%lld ms)\n",
            reached_plain, reached, elapsed);
    cr_expect_eq(reached_plain, 300, "without the shim every connect is an attempt");
    cr_expect_leq(reached, 2 + elapsed / 500, "the shim did not back off\n%s", r.err);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 300, "%s", r.out);
    /* The same errno and message; the "system error" suffix varies from run to run anyway
     * (it is the errno of a race between the peer's close and the client's read). */
    char *want = strdup(pstest_line_value(plain.out, "first_error"));
    want[strcspn(want, ",")] = '\0';
    cr_expect(strncmp(pstest_line_value(r.out, "first_error"), want, strlen(want)) == 0,
              "shim: %s\nno shim: %s", r.out, plain.out);
    free(want);
    cr_expect(strstr(r.err, "server unreachable") != NULL, "no log line:\n%s", r.err);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}
