/* POOLSHIM_ROUTE: the parser (every accepted form, every kind of bad input) and the lookup. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "poolshim/route.h"

static ps_routes r;
static char why[512];

/* Parses SPEC, expecting failure, and returns the message (checked to be one line). */
static const char *bad(const char *spec)
{
    strcpy(why, "unset");
    cr_assert_not(ps_route_parse(&r, spec, why, sizeof why), "accepted: %s", spec);
    cr_assert_eq(r.n, 0, "a failed parse leaves no route (%s)", spec);
    cr_assert_null(strchr(why, '\n'), "one line: %s", why);
    cr_assert(strstr(why, "POOLSHIM_ROUTE") && strstr(why, "routing nothing"), "%s", why);
    return why;
}

/* Parses SPEC, expecting success. */
static void good(const char *spec)
{
    cr_assert(ps_route_parse(&r, spec, why, sizeof why), "rejected %s: %s", spec, why);
}

Test(route, empty_spec_has_no_routes)
{
    good("");
    cr_assert_eq(r.n, 0);
    cr_assert_null(ps_route_find(&r, "db1", 3306, NULL));
}

Test(route, host_port_pairs)
{
    good("db1:3306=proxy:6033,DB2.example.com:3307=10.0.0.5:6033");
    cr_assert_eq(r.n, 2);
    const ps_endpoint *e = ps_route_find(&r, "db1", 3306, NULL);
    cr_assert(e && !strcmp(e->host, "proxy") && e->port == 6033 && !e->socket);
    e = ps_route_find(&r, "db2.EXAMPLE.com", 3307, NULL); /* names match without case */
    cr_assert(e && !strcmp(e->host, "10.0.0.5") && e->port == 6033);
    cr_assert_null(ps_route_find(&r, "db1", 3307, NULL), "another port is not routed");
    cr_assert_null(ps_route_find(&r, "db3", 3306, NULL));
    cr_assert_null(ps_route_find(&r, NULL, 3306, NULL), "a socket connect is not routed");
}

Test(route, port_zero_is_3306)
{
    good("db1:3306=proxy:6033");
    cr_assert_not_null(ps_route_find(&r, "db1", 0, NULL));
    good("db1:3307=proxy:6033");
    cr_assert_null(ps_route_find(&r, "db1", 0, NULL));
}

Test(route, ipv6_and_sockets)
{
    good("[::1]:3306=/run/proxysql/proxysql.sock,/run/mysqld/mysqld.sock=[fd00::5]:6033");
    const ps_endpoint *e = ps_route_find(&r, "::1", 3306, NULL);
    cr_assert(e && e->socket && !strcmp(e->socket, "/run/proxysql/proxysql.sock"));
    cr_assert(!strcmp(e->host, "localhost") && e->port == 0, "a socket target: localhost, 0");
    e = ps_route_find(&r, NULL, 0, "/run/mysqld/mysqld.sock");
    cr_assert(e && !strcmp(e->host, "fd00::5") && e->port == 6033 && !e->socket);
    cr_assert_not_null(ps_route_find(&r, "localhost", 0, "/run/mysqld/mysqld.sock"));
    cr_assert_null(ps_route_find(&r, "127.0.0.1", 0, "/run/mysqld/mysqld.sock"),
                   "a TCP connect with a socket argument is not a socket connect");
    cr_assert_null(ps_route_find(&r, NULL, 0, "/run/mysqld/other.sock"));
}

Test(route, first_match_wins_and_routes_do_not_chain)
{
    good("a:1=b:2,a:1=c:3,b:2=d:4");
    const ps_endpoint *e = ps_route_find(&r, "a", 1, NULL);
    cr_assert(e && !strcmp(e->host, "b") && e->port == 2);
}

Test(route, sixteen_routes_and_no_more)
{
    char spec[256] = "";
    for (int i = 0; i < 16; i++)
        sprintf(spec + strlen(spec), "%sh%d:1=t:2", i ? "," : "", i);
    good(spec);
    cr_assert_eq(r.n, 16);
    strcat(spec, ",x:1=t:2");
    cr_assert(strstr(bad(spec), "more than 16 routes"), "%s", why);
}

Test(route, bad_syntax_says_what_and_where)
{
    cr_assert(strstr(bad("db1:3306"), "no '='"));
    cr_assert(strstr(bad("db1:3306=proxy:6033,"), "route 2"));
    cr_assert(strstr(bad("db1:3306=proxy:6033,,a:1=b:2"), "an empty route"));
    cr_assert(strstr(bad(",a:1=b:2"), "route 1"));
    cr_assert(strstr(bad("db1=proxy:6033"), "no port"));
    cr_assert(strstr(bad("db1:=proxy:6033"), "the port is missing"));
    cr_assert(strstr(bad(":3306=proxy:6033"), "the host is missing"));
    cr_assert(strstr(bad("db1:0=proxy:6033"), "1 to 65535"));
    cr_assert(strstr(bad("db1:65536=proxy:6033"), "1 to 65535"));
    cr_assert(strstr(bad("db1:-1=proxy:6033"), "1 to 65535"));
    cr_assert(strstr(bad("db1:3306=proxy:6033x"), "1 to 65535"));
    cr_assert(strstr(bad("db1:3306=proxy:6033=x:1"), "more than one '='"));
    cr_assert(strstr(bad("db 1:3306=proxy:6033"), "host name may only"));
    cr_assert(strstr(bad(" db1:3306=proxy:6033"), "host name may only"));
    cr_assert(strstr(bad("db1:3306="), "empty"));
    cr_assert(strstr(bad("=proxy:1"), "empty"));
    cr_assert(strstr(bad("[::1:3306=proxy:1"), "without its ']'"));
    cr_assert(strstr(bad("[]:3306=proxy:1"), "IPv6"));
    cr_assert(strstr(bad("[db1]:3306=proxy:1"), "IPv6"));
    cr_assert(strstr(bad("[::1]3306=proxy:1"), "after ']'"));
    cr_assert(strstr(bad("/tmp/my sock=proxy:1"), "unix socket path"));
    cr_assert(strstr(bad("db1:3306=localhost:6033"), "127.0.0.1"));
    cr_assert(strstr(bad("db1:3306=LocalHost:6033"), "127.0.0.1"));
}

Test(route, bad_bytes_are_quoted_and_long_input_refused)
{
    bad("db1:3306=pro\nxy:6033");
    cr_assert(strstr(why, "\\x0a"), "control bytes are escaped: %s", why);
    char spec[400];
    memset(spec, 'a', sizeof spec - 1);
    spec[sizeof spec - 1] = '\0';
    cr_assert(strstr(bad(spec), "longer than 255 bytes"), "%s", why);
    char path[140] = "/";
    memset(path + 1, 'p', 110);
    path[111] = '\0';
    strcat(path, "=a:1");
    cr_assert(strstr(bad(path), "at most 107 bytes"), "%s", why);
}

Test(route, a_message_is_cut_not_overflowed)
{
    char small[16];
    cr_assert_not(ps_route_parse(&r, "nonsense", small, sizeof small));
    cr_assert_eq(strlen(small), sizeof small - 1);
}
