/* POOLSHIM_ROUTE: rewriting where a program connects ("db1:3306=proxy:6033,..."), so that an
 * unmodified binary goes through ProxySQL or MaxScale. The pool key is built from the
 * rewritten endpoint. */
#ifndef POOLSHIM_ROUTE_H
#define POOLSHIM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define PS_ROUTE_MAX      16  /* routes in one specification */
#define PS_ROUTE_SPEC_MAX 256 /* bytes of a specification, with its NUL (config.def's STR) */

/* One end of a route: a TCP endpoint (HOST, PORT) or, when SOCKET is set, a unix socket (HOST
 * is "localhost" and PORT 0 then, as the client library wants them for a socket). */
typedef struct ps_endpoint {
    const char *host;
    unsigned port;
    const char *socket;
} ps_endpoint;

/* A parsed specification. The endpoints point into TEXT: never copy the struct. */
typedef struct ps_routes {
    int n;
    struct {
        ps_endpoint from, to;
    } route[PS_ROUTE_MAX];
    char text[PS_ROUTE_SPEC_MAX];
} ps_routes;

/* Parses SPEC ("FROM=TO[,FROM=TO]...", an endpoint being HOST:PORT, [IPV6]:PORT or an absolute
 * unix socket path) into R. Returns true on success (an empty SPEC gives no routes). On a syntax
 * error returns false with R empty and writes one line saying what is wrong and where into WHY
 * (WHYLEN bytes, always NUL-terminated; SPEC's bytes quoted as log.h's ps_log_quote does).
 * Never reads past SPEC's NUL; pure (no global state), so safe anywhere. */
bool ps_route_parse(ps_routes *r, const char *spec, char *why, size_t whylen);

/* The route of R whose FROM matches a connect to HOST:PORT over SOCKET (the arguments of
 * mysql_real_connect: HOST NULL or "localhost" with a SOCKET is a socket connect, PORT 0 is the
 * default 3306; host names match without regard to case), first match wins; NULL when none.
 * Routes are not chained: the result is not looked up again. */
const ps_endpoint *ps_route_find(const ps_routes *r, const char *host, unsigned port,
                                 const char *socket);

/* Loads the process's routes from SPEC once, at initialisation (before any ps_route_connect);
 * a bad SPEC is logged as one warning and no route is used. */
void ps_route_load(const char *spec);

/* Rewrites the connect arguments *HOST, *PORT, *SOCKET by the process's routes (logged at debug
 * level); returns true when a route applied. The new strings live as long as the process. */
bool ps_route_connect(const char **host, unsigned *port, const char **socket);

#endif
