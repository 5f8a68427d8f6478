/* POOLSHIM_ROUTE: the parser of the route specification (untrusted input: strict, bounded,
 * fuzzed by tests/fuzz/fuzz_route.c) and the rewrite of a connect's endpoint. */
#include "poolshim/route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "poolshim/log.h"

#define DEFAULT_PORT    3306u /* the client library's default (MYSQL_PORT) */
#define SOCKET_PATH_MAX 107   /* sun_path, less the NUL */
#define HOST_MAX        253   /* a DNS name */

static ps_routes routes; /* the process's, set once by ps_route_load */

/* True for the bytes a host name or IPv4 address may hold. */
static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* Parses the decimal port S (NUL-terminated) into *PORT; NULL or why not. */
static const char *parse_port(const char *s, unsigned *port)
{
    unsigned v = 0;
    size_t n = strlen(s);
    if (n == 0)
        return "the port is missing after ':'";
    if (n > 5 || strspn(s, "0123456789") != n)
        return "the port must be a number from 1 to 65535";
    for (; *s; s++)
        v = v * 10 + (unsigned)(*s - '0');
    if (v < 1 || v > 65535)
        return "the port must be a number from 1 to 65535";
    *port = v;
    return NULL;
}

/* Parses a unix socket path S into E; NULL or why not. */
static const char *parse_socket(char *s, ps_endpoint *e)
{
    if (strlen(s) > SOCKET_PATH_MAX)
        return "a unix socket path is at most 107 bytes";
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || (unsigned char)*p >= 0x80)
            return "a unix socket path must be printable ASCII without spaces";
    e->host = "localhost";
    e->port = 0;
    e->socket = s;
    return NULL;
}

/* Parses HOST:PORT or [IPV6]:PORT in S (modified in place) into E; NULL or why not. */
static const char *parse_tcp(char *s, ps_endpoint *e)
{
    char *colon;
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close)
            return "'[' without its ']'";
        *close = '\0';
        s++;
        if (!*s || strspn(s, "0123456789abcdefABCDEF:.") != strlen(s) || !strchr(s, ':') ||
            strlen(s) > 45)
            return "not an IPv6 address between '[' and ']'";
        if (close[1] != ':')
            return "the port is missing after ']' (write [IPV6]:PORT)";
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return "no port (write HOST:PORT, or an absolute unix socket path)";
        *colon = '\0';
        if (!*s)
            return "the host is missing before ':'";
        for (const char *p = s; *p; p++)
            if (!host_char(*p))
                return "a host name may only hold letters, digits, '.', '-' and '_'";
        if (strlen(s) > HOST_MAX)
            return "a host name is at most 253 bytes";
    }
    e->host = s;
    e->socket = NULL;
    return parse_port(colon + 1, &e->port);
}

/* Parses one endpoint S (modified in place) into E; NULL or why not. */
static const char *parse_endpoint(char *s, ps_endpoint *e)
{
    if (!*s)
        return "an endpoint is empty";
    return *s == '/' ? parse_socket(s, e) : parse_tcp(s, e);
}

/* Parses one route ENTRY (modified in place) into FROM and TO; NULL or why not. */
static const char *parse_route(char *entry, ps_endpoint *from, ps_endpoint *to)
{
    char *eq = strchr(entry, '=');
    if (!eq)
        return "no '=' (write FROM=TO)";
    *eq = '\0';
    if (strchr(eq + 1, '='))
        return "more than one '='";
    const char *why = parse_endpoint(entry, from);
    if (!why)
        why = parse_endpoint(eq + 1, to);
    if (!why && !to->socket && !strcasecmp(to->host, "localhost"))
        why = "the client library takes host localhost as its unix socket: route to "
              "127.0.0.1:PORT or to the socket's path";
    return why;
}

/* Writes the one-line error about route number N (1-based) of SPEC, which starts at byte AT
 * and is LEN bytes long, into WHY. */
static void report(char *why, size_t whylen, const char *spec, int n, size_t at, size_t len,
                   const char *what)
{
    char entry[PS_ROUTE_SPEC_MAX], quoted[160];
    snprintf(entry, sizeof entry, "%.*s", (int)len, spec + at);
    snprintf(why, whylen,
             "POOLSHIM_ROUTE: route %d '%s' (byte %zu): %s; expected FROM=TO[,FROM=TO]... "
             "with HOST:PORT, [IPV6]:PORT or /socket/path; routing nothing",
             n, ps_log_quote(quoted, sizeof quoted, entry, 64), at + 1, what);
}

bool ps_route_parse(ps_routes *r, const char *spec, char *why, size_t whylen)
{
    size_t len = strlen(spec);
    memset(r, 0, sizeof *r);
    if (len >= sizeof r->text) {
        report(why, whylen, spec, 1, 0, 0, "the specification is longer than 255 bytes");
        return false;
    }
    memcpy(r->text, spec, len + 1);
    for (size_t at = 0; len > 0 && at <= len;) {
        size_t n = strcspn(r->text + at, ",");
        const char *what = r->n == PS_ROUTE_MAX ? "more than 16 routes" : NULL;
        r->text[at + n] = '\0';
        if (!what)
            what = n ? parse_route(r->text + at, &r->route[r->n].from, &r->route[r->n].to)
                     : "an empty route (two ',' in a row, or one at an end)";
        if (what) {
            report(why, whylen, spec, r->n + 1, at, n, what);
            memset(r, 0, sizeof *r);
            return false;
        }
        r->n++;
        at += n + 1;
    }
    return true;
}

/* True when endpoint E is where a connect to HOST:PORT over SOCKET goes. */
static bool endpoint_matches(const ps_endpoint *e, const char *host, unsigned port,
                             const char *socket)
{
    bool local = !host || !strcasecmp(host, "localhost");
    if (e->socket)
        return local && socket && !strcmp(e->socket, socket);
    return host && !strcasecmp(e->host, host) && e->port == (port ? port : DEFAULT_PORT);
}

const ps_endpoint *ps_route_find(const ps_routes *r, const char *host, unsigned port,
                                 const char *socket)
{
    for (int i = 0; i < r->n; i++)
        if (endpoint_matches(&r->route[i].from, host, port, socket))
            return &r->route[i].to;
    return NULL;
}

void ps_route_load(const char *spec)
{
    char why[512];
    if (!ps_route_parse(&routes, spec ? spec : "", why, sizeof why))
        ps_warn(NULL, "%s", why);
    else if (routes.n)
        ps_debug(NULL, "POOLSHIM_ROUTE: %d route%s", routes.n, routes.n == 1 ? "" : "s");
}

/* Writes where a connect to HOST:PORT over SOCKET goes, quoted for a log line, into OUT (200
 * bytes); returns OUT. */
static const char *endpoint_text(char *out, const char *host, unsigned port, const char *socket)
{
    char q[160];
    if ((!host || !strcasecmp(host, "localhost")) && socket)
        snprintf(out, 200, "socket %s", ps_log_quote(q, sizeof q, socket, 107));
    else
        snprintf(out, 200, "%s:%u", ps_log_quote(q, sizeof q, host ? host : "localhost", 64),
                 port ? port : DEFAULT_PORT);
    return out;
}

bool ps_route_connect(const char **host, unsigned *port, const char **socket)
{
    const ps_endpoint *to = routes.n ? ps_route_find(&routes, *host, *port, *socket) : NULL;
    if (!to)
        return false;
    if (ps_log_enabled(PS_LOG_DEBUG)) {
        char from[200], dest[200];
        ps_log(PS_LOG_DEBUG, NULL, "routing %s to %s", endpoint_text(from, *host, *port, *socket),
               endpoint_text(dest, to->host, to->port, to->socket));
    }
    *host = to->host;
    *port = to->port;
    *socket = to->socket;
    return true;
}
