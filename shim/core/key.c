/* Pool keys as length-prefixed fields: "name=<len>:value;" or "name=-;" for NULL, so no two
 * different field lists can produce the same bytes. */
#include "poolshim/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/sha256.h"

void ps_key_init(ps_key *k)
{
    k->buf = NULL;
    k->len = k->cap = 0;
    k->oom = false;
}

/* Appends N bytes of S, growing the buffer; marks the key OOM on failure. */
static void append(ps_key *k, const char *s, size_t n)
{
    if (k->oom)
        return;
    if (k->len + n + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 256;
        while (cap < k->len + n + 1)
            cap *= 2;
        char *b = realloc(k->buf, cap);
        if (!b) {
            k->oom = true;
            return;
        }
        k->buf = b;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    k->buf[k->len] = '\0';
}

void ps_key_add_str(ps_key *k, const char *name, const char *value)
{
    char head[96];
    int n = value ? snprintf(head, sizeof head, "%s=%zu:", name, strlen(value))
                  : snprintf(head, sizeof head, "%s=-", name);
    append(k, head, (size_t)n);
    if (value)
        append(k, value, strlen(value));
    append(k, ";", 1);
}

void ps_key_add_uint(ps_key *k, const char *name, unsigned long long value)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", value);
    ps_key_add_str(k, name, num);
}

void ps_key_add_secret(ps_key *k, const char *name, const char *secret)
{
    char hex[65];
    if (secret)
        ps_sha256_hex(secret, strlen(secret), hex);
    ps_key_add_str(k, name, secret ? hex : NULL);
}

const char *ps_key_str(const ps_key *k)
{
    return k->oom ? NULL : (k->buf ? k->buf : "");
}

void ps_key_free(ps_key *k)
{
    free(k->buf);
    ps_key_init(k);
}

void ps_key_label(char *out, size_t outlen, const char *user, const char *host, unsigned port,
                  const char *socket, const char *db)
{
    const char *u = user && *user ? user : "(default user)";
    const char *d = db && *db ? db : "";
    bool local = !host || !*host || !strcmp(host, "localhost");
    if (local)
        snprintf(out, outlen, "%s@%s/%s", u, socket && *socket ? socket : "localhost", d);
    else
        snprintf(out, outlen, "%s@%s:%u/%s", u, host, port ? port : 3306, d);
}
