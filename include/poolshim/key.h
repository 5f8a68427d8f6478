/* Pool keys: an unambiguous byte string of (name, value) fields. Field names are constants of
 * the client layer and never contain '=' (the encoding relies on it; tests/fuzz checks it). Two
 * connects with equal keys get interchangeable connections. Secrets are stored as SHA-256 digests
 * only. */
#ifndef POOLSHIM_KEY_H
#define POOLSHIM_KEY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ps_key {
    char *buf; /* inline until it outgrows it, then heap */
    size_t len, cap;
    bool oom; /* an append failed: the key is unusable (callers pass through) */
    char inline_buf[768];
} ps_key;

/* Starts an empty key. */
void ps_key_init(ps_key *k);

/* Appends field NAME with string VALUE. NULL appends nothing (a client layer always adds
 * the same fields, so absence is unambiguous); "" is a value, distinct from NULL. */
void ps_key_add_str(ps_key *k, const char *name, const char *value);

/* Appends field NAME with an unsigned number; 0 appends nothing (like NULL). */
void ps_key_add_uint(ps_key *k, const char *name, unsigned long long value);

/* Appends field NAME with the SHA-256 of SECRET (NULL distinct from ""); never the secret. */
void ps_key_add_secret(ps_key *k, const char *name, const char *secret);

/* Returns the NUL-terminated key, or NULL if any append ran out of memory. */
const char *ps_key_str(const ps_key *k) __attribute__((warn_unused_result));

/* Frees the key's buffer. */
void ps_key_free(ps_key *k);

/* Formats the log label user@host:port/db or user@socket/db into OUT (never a password). */
void ps_key_label(char *out, size_t outlen, const char *user, const char *host, unsigned port,
                  const char *socket, const char *db);

#endif
