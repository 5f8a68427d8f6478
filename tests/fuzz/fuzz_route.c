/* libFuzzer target for the POOLSHIM_ROUTE parser (ps_route_parse) and lookup (ps_route_find).
 *
 * Input: the specification, up to its first NUL byte (an environment value is a C string),
 * copied to an exact-size heap buffer so that ASan sees any read past its end.
 *
 * Invariants, each checked with abort() so libFuzzer keeps the input:
 *   - a rejected specification leaves no route and one non-empty line naming POOLSHIM_ROUTE;
 *   - an accepted one has at most PS_ROUTE_MAX routes, every endpoint inside the struct's text,
 *     a TCP endpoint a non-empty host and a port of 1..65535, a socket endpoint an absolute
 *     path, host "localhost" and port 0, and no target host "localhost" over TCP;
 *   - written back out (HOST:PORT, [IPV6]:PORT or the path) and parsed again, it gives the same
 *     routes (the parser keeps everything it accepts);
 *   - every route's FROM is found, and what is found is a route's TO;
 *   - parsing the same input twice gives the same result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poolshim/route.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_route: %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* True when S points into R's text. */
static int inside(const ps_routes *r, const char *s)
{
    return s >= r->text && s < r->text + sizeof r->text;
}

/* Checks one endpoint of an accepted specification. */
static void check_endpoint(const ps_routes *r, const ps_endpoint *e, int target)
{
    if (e->socket) {
        CHECK(inside(r, e->socket) && e->socket[0] == '/');
        CHECK(!strcmp(e->host, "localhost") && e->port == 0);
        return;
    }
    CHECK(inside(r, e->host) && e->host[0] != '\0');
    CHECK(e->port >= 1 && e->port <= 65535);
    CHECK(!target || strcasecmp(e->host, "localhost") != 0);
}

/* Appends endpoint E to OUT (size N) the way a user would write it. */
static void write_endpoint(char *out, size_t n, const ps_endpoint *e)
{
    size_t len = strlen(out);
    if (e->socket)
        snprintf(out + len, n - len, "%s", e->socket);
    else if (strchr(e->host, ':'))
        snprintf(out + len, n - len, "[%s]:%u", e->host, e->port);
    else
        snprintf(out + len, n - len, "%s:%u", e->host, e->port);
}

/* True when A and B are the same endpoint. */
static int same_endpoint(const ps_endpoint *a, const ps_endpoint *b)
{
    return !strcmp(a->host, b->host) && a->port == b->port && !a->socket == !b->socket &&
           (!a->socket || !strcmp(a->socket, b->socket));
}

/* Checks R, parsed from an accepted specification. */
static void check_accepted(const ps_routes *r)
{
    static ps_routes again;
    char spec[4 * PS_ROUTE_SPEC_MAX] = "", why[512];
    CHECK(r->n >= 0 && r->n <= PS_ROUTE_MAX);
    for (int i = 0; i < r->n; i++) {
        check_endpoint(r, &r->route[i].from, 0);
        check_endpoint(r, &r->route[i].to, 1);
        const ps_endpoint *f = &r->route[i].from;
        const ps_endpoint *found = ps_route_find(r, f->socket ? NULL : f->host, f->port, f->socket);
        CHECK(found != NULL);
        int is_target = 0;
        for (int j = 0; j <= i; j++)
            is_target |= found == &r->route[j].to;
        CHECK(is_target);
        strcat(spec, i ? "," : "");
        write_endpoint(spec, sizeof spec, &r->route[i].from);
        strcat(spec, "=");
        write_endpoint(spec, sizeof spec, &r->route[i].to);
    }
    CHECK(ps_route_parse(&again, spec, why, sizeof why));
    CHECK(again.n == r->n);
    for (int i = 0; i < r->n; i++) {
        CHECK(same_endpoint(&again.route[i].from, &r->route[i].from));
        CHECK(same_endpoint(&again.route[i].to, &r->route[i].to));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ps_routes r, r2;
    size_t len = strnlen((const char *)data, size);
    char *spec = malloc(len + 1), why[512], why2[512];
    if (!spec)
        return 0;
    memcpy(spec, data, len);
    spec[len] = '\0';
    int ok = ps_route_parse(&r, spec, why, sizeof why);
    CHECK(ps_route_parse(&r2, spec, why2, sizeof why2) == ok);
    if (ok) {
        check_accepted(&r);
    } else {
        CHECK(r.n == 0 && why[0] != '\0' && !strchr(why, '\n'));
        CHECK(strstr(why, "POOLSHIM_ROUTE") != NULL && !strcmp(why, why2));
    }
    free(spec);
    return 0;
}
