/* Pool keys as length-prefixed fields, "name=<len>:value;" (NULL and 0 append nothing), so no
 * two different field lists with constant names free of '=' can produce the same bytes. */
#include "poolshim/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/sha256.h"

void ps_key_init(ps_key *k)
{
    k->buf = k->inline_buf;
    k->buf[0] = '\0';
    k->len = 0;
    k->cap = sizeof k->inline_buf;
    k->oom = false;
}

/* Makes room for N more bytes (and the terminator); false (the key marked OOM) when it cannot. */
static bool reserve(ps_key *k, size_t n)
{
    if (k->oom)
        return false;
    if (k->len + n + 1 <= k->cap)
        return true;
    size_t cap = k->cap * 2;
    while (cap < k->len + n + 1)
        cap *= 2;
    char *b = k->buf == k->inline_buf ? malloc(cap) : realloc(k->buf, cap);
    if (!b) {
        k->oom = true;
        return false;
    }
    if (k->buf == k->inline_buf)
        memcpy(b, k->inline_buf, k->len + 1);
    k->buf = b;
    k->cap = cap;
    return true;
}

/* Writes V in decimal at the end of BUF[0..32) and returns where the digits start. */
static char *format_decimal(unsigned long long v, char buf[32])
{
    char *p = buf + 31;
    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return p;
}

/* Appends "name=<len>:value;" (nothing for NULL) without printf, in one reservation: this is
 * on the hot path (every connect builds its key). */
static void append_field(ps_key *k, const char *name, const char *value, size_t vlen)
{
    char num[32];
    if (!value)
        return;
    size_t nlen = strlen(name);
    const char *digits = format_decimal(vlen, num);
    size_t dlen = (size_t)(num + 31 - digits);
    if (!reserve(k, nlen + dlen + vlen + 3))
        return;
    char *p = k->buf + k->len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = '=';
    memcpy(p, digits, dlen);
    p += dlen;
    *p++ = ':';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = ';';
    *p = '\0';
    k->len = (size_t)(p - k->buf);
}

void ps_key_add_str(ps_key *k, const char *name, const char *value)
{
    append_field(k, name, value, value ? strlen(value) : 0);
}

void ps_key_add_uint(ps_key *k, const char *name, unsigned long long value)
{
    char num[32];
    if (value == 0)
        return;
    const char *digits = format_decimal(value, num);
    append_field(k, name, digits, (size_t)(num + 31 - digits));
}

/* The last secret this thread hashed and its digest: programs connect with the same password
 * over and over, and hashing is the costliest part of building a key. */
static __thread struct {
    char secret[128];
    size_t len;
    char hex[65];
} memo;

/* Writes the hex SHA-256 of SECRET (LEN bytes) into HEX, reusing the thread's last result. */
static void digest_memoized(const char *secret, size_t len, char hex[65])
{
    if (memo.hex[0] && len == memo.len && !memcmp(secret, memo.secret, len)) {
        memcpy(hex, memo.hex, sizeof memo.hex);
        return;
    }
    ps_sha256_hex(secret, len, hex);
    if (len <= sizeof memo.secret) {
        memcpy(memo.secret, secret, len);
        memo.len = len;
        memcpy(memo.hex, hex, sizeof memo.hex);
    }
}

void ps_key_add_secret(ps_key *k, const char *name, const char *secret)
{
    char hex[65];
    if (secret)
        digest_memoized(secret, strlen(secret), hex);
    ps_key_add_str(k, name, secret ? hex : NULL);
}

const char *ps_key_str(const ps_key *k)
{
    return k->oom ? NULL : k->buf;
}

void ps_key_free(ps_key *k)
{
    if (k->buf != k->inline_buf)
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
