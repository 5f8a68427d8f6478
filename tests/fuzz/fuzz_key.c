/* libFuzzer target for pool keys (ps_key_add_*, ps_key_str) and log labels (ps_key_label).
 *
 * Input: a mode byte, then chunks separated by NUL bytes (names and values are C strings, so NUL
 * is the one byte they can never hold; a chunk is copied to an exact-size heap buffer so ASan
 * sees any overread).
 *   mode % 4 == 0: two operation sequences A and B, read independently;
 *   mode % 4 == 1: the same, but B takes A's kinds and names (one client layer's fixed field
 *                  list) and only its values from the input, so the keys differ in values only;
 *   mode % 4 == 2: one ps_key_label call (see read_label_args);
 *   mode % 4 == 3: B's names and values are pieces of A's key, picked by offset and length (see
 *                  read_spliced_op): the likely way to forge a field boundary, which blind
 *                  mutation of two independent sequences rarely hits.
 * An operation is a header chunk (an op byte, then the name) and, unless it is a split, a value
 * chunk. Op byte % 4: '0' add_str, '1' add_uint, '2' add_secret, '3' split (ends A; a second
 * split ends B); op byte & 4 ('4'..'6'): the value is NULL (for add_uint: 0). add_uint's number
 * is strtoull of the value chunk.
 *
 * The model, from key.h: a key is a list of (name, value) fields; a NULL string or secret and
 * the number 0 append nothing; "" is a value; a secret is stored as its SHA-256 only. A field is
 * "present" when it appends something. Checked:
 *   - same present fields (kind, name, value; secrets compared in clear) => byte-equal keys;
 *   - byte-equal keys => the present fields pair up in order with equal names, and pairs of one
 *     kind have equal values. key.h does not say whether add_str(n, "5") and add_uint(n, 5)
 *     differ (a client layer always adds a given name with the same kind), so pairs of different
 *     kinds are left open. In mode 1 kinds always match, so there the two checks together are
 *     an exact "iff"; with distinct names (as a client layer uses) that is: equal keys iff equal
 *     (kind, name, value) sequences, NULL distinct from "" and 0 from any other number;
 *   - dropping the absent fields leaves the key unchanged; building a key twice gives the same
 *     bytes (the secret digest is memoized per thread); ps_key_str is never NULL (no OOM here);
 *   - a secret never appears verbatim in its key (see secret_could_only_leak).
 * Names: the encoding "name=<len>:value;" does not length-prefix names, so a name containing '='
 * can forge a field boundary: add_str("a=1:x;b", "y") and add_str("a", "x"), add_str("b", "y")
 * give the same key. Real names are client-layer constants without '=', so the harness reads '='
 * in a name as '_' rather than report that. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/key.h"

enum op_kind { OP_STR, OP_UINT, OP_SECRET, OP_SPLIT };

/* One ps_key_add_* call; strings point into the chunk reader's copies. */
typedef struct key_op {
    enum op_kind kind;
    const char *name;
    const char *text; /* the value chunk, NULL for a NULL value (add_uint: 0) */
} key_op;

enum { MODE_INDEPENDENT, MODE_SAME_FIELDS, MODE_LABEL, MODE_SPLICED };

/* Per sequence at most MAX_OPS operations (2 chunks and 2 spliced pieces each) and a split. */
enum { MAX_OPS = 64, MAX_OWNED = 8 * MAX_OPS + 16, MAX_LABEL_OUT = 600 };

typedef struct op_list {
    key_op ops[MAX_OPS];
    size_t n;
} op_list;

/* Splits the input into NUL-terminated heap copies of its NUL-separated chunks, which it owns
 * along with the pieces of keys that spliced operations use. */
typedef struct chunk_reader {
    const uint8_t *p;
    size_t left;
    bool done;
    char *owned[MAX_OWNED];
    size_t n_owned;
} chunk_reader;

/* The arguments of one ps_key_label call, and a password kept out of it. */
typedef struct label_args {
    const char *user, *host, *socket, *db, *password;
    unsigned port;
    size_t outlen;
} label_args;

typedef bool (*field_relation)(const key_op *a, const key_op *b);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints which invariant broke and aborts, so libFuzzer saves the input as a crash. */
__attribute__((noreturn)) static void fail(const char *invariant, const char *detail)
{
    fprintf(stderr, "fuzz_key: invariant broken: %s%s%s\n", invariant, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

/* Returns a NUL-terminated heap copy of S[0..LEN), owned (freed) by R. */
static char *owned_copy(chunk_reader *r, const void *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy || r->n_owned == MAX_OWNED)
        abort();
    memcpy(copy, s, len);
    copy[len] = '\0';
    r->owned[r->n_owned++] = copy;
    return copy;
}

/* Returns the next chunk as a NUL-terminated heap copy owned by R, or NULL when none is left. */
static char *next_chunk(chunk_reader *r)
{
    if (r->done)
        return NULL;
    const uint8_t *end = memchr(r->p, '\0', r->left);
    size_t len = end ? (size_t)(end - r->p) : r->left;
    char *chunk = owned_copy(r, r->p, len);
    r->done = !end;
    r->p += end ? len + 1 : len;
    r->left -= end ? len + 1 : len;
    return chunk;
}

/* Like next_chunk, but "" when no chunk is left. */
static const char *next_chunk_or_empty(chunk_reader *r)
{
    const char *chunk = next_chunk(r);
    return chunk ? chunk : "";
}

/* Frees every chunk R handed out. */
static void free_chunks(chunk_reader *r)
{
    for (size_t i = 0; i < r->n_owned; i++)
        free(r->owned[i]);
}

/* The number an add_uint operation passes: strtoull of its value, 0 when NULL. */
static unsigned long long op_number(const key_op *op)
{
    return op->text ? strtoull(op->text, NULL, 10) : 0;
}

/* Replaces every '=' of NAME by '_' (see the file comment) and returns NAME. */
static char *without_equals(char *name)
{
    for (char *c = name; (c = strchr(c, '=')) != NULL;)
        *c = '_';
    return name;
}

/* Reads one operation from R into OP (see the file comment); false when the input is used up. */
static bool read_op(chunk_reader *r, key_op *op)
{
    char *header = next_chunk(r);
    if (!header)
        return false;
    unsigned char code = (unsigned char)header[0];
    char *name = without_equals(code ? header + 1 : header);
    *op = (key_op){.kind = (enum op_kind)(code % 4), .name = name, .text = NULL};
    if (op->kind != OP_SPLIT) {
        const char *value = next_chunk(r);
        op->text = code & 4 ? NULL : value;
    }
    return true;
}

/* Returns an owned copy of the piece of KEY that SPEC picks: its first byte minus 1 is the
 * offset, its second minus 1 the length (chunk bytes are never 0), both clamped to KEY. */
static char *key_piece(chunk_reader *r, const char *key, const char *spec)
{
    size_t key_len = strlen(key);
    size_t start = spec[0] ? (unsigned char)spec[0] - 1u : 0;
    size_t len = spec[0] && spec[1] ? (unsigned char)spec[1] - 1u : 0;
    start = start < key_len ? start : key_len;
    len = len < key_len - start ? len : key_len - start;
    return owned_copy(r, key + start, len);
}

/* Like read_op, but the name is the piece of KEY that the two bytes after the op byte pick, and
 * the value the piece that the value chunk's first two bytes pick. */
static bool read_spliced_op(chunk_reader *r, const char *key, key_op *op)
{
    const char *header = next_chunk(r);
    if (!header)
        return false;
    unsigned char code = (unsigned char)header[0];
    char *name = without_equals(key_piece(r, key, code ? header + 1 : header));
    *op = (key_op){.kind = (enum op_kind)(code % 4), .name = name, .text = NULL};
    if (op->kind != OP_SPLIT) {
        const char *value = next_chunk(r);
        op->text = code & 4 ? NULL : key_piece(r, key, value ? value : "");
    }
    return true;
}

/* Reads operations from R into LIST up to a split, the end of the input or MAX_OPS; with a
 * non-NULL SPLICE_FROM they are spliced from that key (read_spliced_op). */
static void read_ops(chunk_reader *r, op_list *list, const char *splice_from)
{
    key_op op;
    while (list->n < MAX_OPS &&
           (splice_from ? read_spliced_op(r, splice_from, &op) : read_op(r, &op)) &&
           op.kind != OP_SPLIT)
        list->ops[list->n++] = op;
}

/* Gives B the kinds and names of A, keeping B's own values (A's where B has fewer). */
static void impose_field_list(const op_list *a, op_list *b)
{
    for (size_t i = 0; i < a->n; i++) {
        const char *text = i < b->n ? b->ops[i].text : a->ops[i].text;
        b->ops[i] = (key_op){.kind = a->ops[i].kind, .name = a->ops[i].name, .text = text};
    }
    b->n = a->n;
}

/* True when OP appends to a key: key.h says a NULL value and the number 0 append nothing. */
static bool op_present(const key_op *op)
{
    return op->kind == OP_UINT ? op_number(op) != 0 : op->text != NULL;
}

/* True when present fields A and B, of the same kind, hold the same value (secrets in clear). */
static bool same_value(const key_op *a, const key_op *b)
{
    if (a->kind == OP_UINT)
        return op_number(a) == op_number(b);
    return strcmp(a->text, b->text) == 0;
}

/* True when present fields A and B are the same field: same kind, name and value. */
static bool same_field(const key_op *a, const key_op *b)
{
    return a->kind == b->kind && !strcmp(a->name, b->name) && same_value(a, b);
}

/* True when present fields A and B may encode to the same bytes: same name, and the same value
 * when they are of the same kind (key.h leaves encodings across kinds open). */
static bool compatible_field(const key_op *a, const key_op *b)
{
    return !strcmp(a->name, b->name) && (a->kind != b->kind || same_value(a, b));
}

/* True when the present fields of X and Y pair up one to one, in order, under RELATION. */
static bool present_fields_pair_up(const op_list *x, const op_list *y, field_relation relation)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < x->n && !op_present(&x->ops[i]))
            i++;
        while (j < y->n && !op_present(&y->ops[j]))
            j++;
        if (i == x->n || j == y->n)
            return i == x->n && j == y->n;
        if (!relation(&x->ops[i++], &y->ops[j++]))
            return false;
    }
}

/* Calls the ps_key_add_* function of OP's kind on K. */
static void add_op(ps_key *k, const key_op *op)
{
    switch (op->kind) {
    case OP_STR:
        ps_key_add_str(k, op->name, op->text);
        break;
    case OP_UINT:
        ps_key_add_uint(k, op->name, op_number(op));
        break;
    case OP_SECRET:
        ps_key_add_secret(k, op->name, op->text);
        break;
    case OP_SPLIT:
        fail("a split reached a key", NULL);
    }
}

/* Returns a heap copy of the key of OPS; aborts when ps_key_str is NULL (fuzzing never runs out
 * of memory) or disagrees with the key's length. */
static char *build_key(const op_list *ops)
{
    ps_key k;
    ps_key_init(&k);
    for (size_t i = 0; i < ops->n; i++)
        add_op(&k, &ops->ops[i]);
    const char *s = ps_key_str(&k);
    if (!s)
        fail("ps_key_str returned NULL", NULL);
    if (strlen(s) != k.len)
        fail("the key string and the key length disagree", s);
    char *copy = strdup(s);
    if (!copy)
        abort();
    ps_key_free(&k);
    return copy;
}

/* True when SECRET can appear in the key of OPS only by leaking. A key is made of names, '=',
 * decimal lengths, ':', values (string values, decimal numbers, hex digests) and ';'. A secret
 * with none of "=:;" lies within one of those parts; one with a byte outside [0-9a-f] is in no
 * number or digest; so if it is also in no name or string value of OPS, finding it means the
 * secret itself was stored. Secrets under 8 bytes are not checked. */
static bool secret_could_only_leak(const char *secret, const op_list *ops)
{
    size_t len = strlen(secret);
    if (len < 8 || strpbrk(secret, "=:;") || strspn(secret, "0123456789abcdef") == len)
        return false;
    for (size_t i = 0; i < ops->n; i++) {
        const key_op *op = &ops->ops[i];
        if (strstr(op->name, secret) ||
            (op->kind == OP_STR && op->text && strstr(op->text, secret)))
            return false;
    }
    return true;
}

/* Aborts when a secret of OPS that could only get there by leaking appears in KEY. */
static void check_no_secret_in_key(const op_list *ops, const char *key)
{
    for (size_t i = 0; i < ops->n; i++) {
        const key_op *op = &ops->ops[i];
        if (op->kind == OP_SECRET && op->text && secret_could_only_leak(op->text, ops) &&
            strstr(key, op->text))
            fail("a secret appears verbatim in its key", op->text);
    }
}

/* Aborts unless the key of OPS without its absent fields equals KEY (they append nothing). */
static void check_absent_fields_append_nothing(const op_list *ops, const char *key)
{
    op_list present = {.n = 0};
    for (size_t i = 0; i < ops->n; i++)
        if (op_present(&ops->ops[i]))
            present.ops[present.n++] = ops->ops[i];
    char *stripped = build_key(&present);
    if (strcmp(stripped, key))
        fail("a NULL value or the number 0 changed the key", key);
    free(stripped);
}

/* Builds the keys of A and B and checks them against the model of the file comment. */
static void check_key_pair(const op_list *a, const op_list *b)
{
    char *key_a = build_key(a), *key_b = build_key(b), *key_a_again = build_key(a);
    if (strcmp(key_a, key_a_again))
        fail("building the same key twice gave different bytes", key_a);
    bool equal = strcmp(key_a, key_b) == 0;
    if (!equal && present_fields_pair_up(a, b, same_field))
        fail("the same fields gave different keys", key_a);
    if (equal && !present_fields_pair_up(a, b, compatible_field))
        fail("different fields gave the same key", key_a);
    check_absent_fields_append_nothing(a, key_a);
    check_absent_fields_append_nothing(b, key_b);
    check_no_secret_in_key(a, key_a);
    check_no_secret_in_key(b, key_b);
    free(key_a);
    free(key_b);
    free(key_a_again);
}

/* Reads a label call from R: a flags chunk (bit i of its first byte: the i-th of user, host,
 * socket, db is NULL), those four, then port and outlen (decimal; outlen modulo MAX_LABEL_OUT)
 * and a password. Missing chunks read as "" (NULL for the four strings). */
static void read_label_args(chunk_reader *r, label_args *args)
{
    unsigned flags = (unsigned char)next_chunk_or_empty(r)[0];
    const char *parts[4];
    for (int i = 0; i < 4; i++) {
        const char *chunk = next_chunk(r);
        parts[i] = flags & (1u << i) ? NULL : chunk;
    }
    args->user = parts[0];
    args->host = parts[1];
    args->socket = parts[2];
    args->db = parts[3];
    args->port = (unsigned)strtoul(next_chunk_or_empty(r), NULL, 10);
    args->outlen = strtoul(next_chunk_or_empty(r), NULL, 10) % MAX_LABEL_OUT;
    args->password = next_chunk_or_empty(r);
}

/* True when S is non-NULL and contains NEEDLE. */
static bool contains(const char *s, const char *needle)
{
    return s && strstr(s, needle);
}

/* True when ARGS's password can appear in a label only by leaking. A label is user (or
 * "(default user)"), '@', socket (or "localhost") or host, ':', decimal port (or 3306), '/', db.
 * A password with none of "@:/" lies within one of those parts, so if it is in none of the
 * arguments or stand-ins, finding it means a leak. Passwords under 8 bytes are not checked. */
static bool password_could_only_leak(const label_args *args)
{
    const char *pw = args->password;
    char port[32];
    snprintf(port, sizeof port, "%u", args->port);
    return strlen(pw) >= 8 && !strpbrk(pw, "@:/") && !contains(args->user, pw) &&
           !contains(args->host, pw) && !contains(args->socket, pw) && !contains(args->db, pw) &&
           !contains("(default user)", pw) && !contains("localhost", pw) && !contains(port, pw) &&
           !contains("3306", pw);
}

/* Returns a heap copy of the untruncated label of ARGS. */
static char *full_label(const label_args *args)
{
    size_t size = 64;
    const char *parts[] = {args->user, args->host, args->socket, args->db};
    for (int i = 0; i < 4; i++)
        size += parts[i] ? strlen(parts[i]) : 0;
    char *label = malloc(size);
    if (!label)
        abort();
    ps_key_label(label, size, args->user, args->host, args->port, args->socket, args->db);
    if (!memchr(label, '\0', size) || strlen(label) + 1 >= size)
        fail("the label does not fit a buffer sized for every argument", NULL);
    return label;
}

/* Hashes the password into a key (so it sits in the secret memo, as in the shim), then checks
 * ps_key_label into an exact-size buffer of ARGS->outlen bytes (ASan catches overflows): it is
 * NUL-terminated within outlen, a prefix of the untruncated label, and free of the password. */
static void check_label(const label_args *args)
{
    ps_key k;
    ps_key_init(&k);
    ps_key_add_secret(&k, "password", args->password);
    ps_key_free(&k);
    char *full = full_label(args);
    char *out = malloc(args->outlen);
    if (!out)
        abort();
    memset(out, 'Z', args->outlen);
    ps_key_label(out, args->outlen, args->user, args->host, args->port, args->socket, args->db);
    if (args->outlen) {
        if (!memchr(out, '\0', args->outlen))
            fail("the label is not NUL-terminated within outlen", NULL);
        size_t want = strlen(full) < args->outlen - 1 ? strlen(full) : args->outlen - 1;
        if (strlen(out) != want || memcmp(out, full, want))
            fail("a truncated label is not a prefix of the full label", out);
    }
    if (password_could_only_leak(args) && strstr(full, args->password))
        fail("the password appears in the label", full);
    free(out);
    free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    chunk_reader reader = {.p = data + 1, .left = size - 1, .done = false, .n_owned = 0};
    int mode = data[0] % 4;
    if (mode == MODE_LABEL) {
        label_args args;
        read_label_args(&reader, &args);
        check_label(&args);
    } else {
        op_list a = {.n = 0}, b = {.n = 0};
        read_ops(&reader, &a, NULL);
        char *key_a = mode == MODE_SPLICED ? build_key(&a) : NULL;
        read_ops(&reader, &b, key_a);
        if (mode == MODE_SAME_FIELDS)
            impose_field_list(&a, &b);
        check_key_pair(&a, &b);
        free(key_a);
    }
    free_chunks(&reader);
    return 0;
}
