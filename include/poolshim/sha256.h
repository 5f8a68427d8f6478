/* SHA-256 (FIPS 180-4), used to keep passwords out of pool keys. */
#ifndef POOLSHIM_SHA256_H
#define POOLSHIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 32-byte digest of DATA[0..LEN) into OUT. */
void ps_sha256(const void *data, size_t len, uint8_t out[32]);

/* Writes the lowercase hex digest (64 chars + NUL) of DATA[0..LEN) into HEX. */
void ps_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
