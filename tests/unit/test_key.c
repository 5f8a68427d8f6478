/* Pool keys: unambiguous encoding, secrets hashed, every field significant; SHA-256 vectors. */
#include <criterion/criterion.h>
#include <string.h>

#include "poolshim/key.h"
#include "poolshim/sha256.h"

/* Builds a key from N (name, value) pairs; VALUE NULL stays NULL. Caller frees the result. */
static char *key_of(int n, const char *const pairs[][2])
{
    ps_key k;
    ps_key_init(&k);
    for (int i = 0; i < n; i++)
        ps_key_add_str(&k, pairs[i][0], pairs[i][1]);
    const char *s = ps_key_str(&k);
    cr_assert_not_null(s);
    char *copy = strdup(s);
    ps_key_free(&k);
    return copy;
}

Test(sha256, matches_fips_180_vectors)
{
    char hex[65];
    ps_sha256_hex("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ps_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ps_sha256_hex(m, strlen(m), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, handles_block_boundaries)
{
    /* One million 'a' (FIPS vector), fed as one buffer: crosses every padding case. */
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    char hex[65];
    ps_sha256_hex(a, n, hex);
    free(a);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 55, 56 and 64 bytes: the lengths where padding spills into a second block. */
    const char *want[] = {"9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
                          "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
                          "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"};
    size_t lens[] = {55, 56, 64};
    char buf[64];
    memset(buf, 'a', sizeof buf);
    for (int i = 0; i < 3; i++) {
        ps_sha256_hex(buf, lens[i], hex);
        cr_assert_str_eq(hex, want[i], "length %zu", lens[i]);
    }
}

Test(key, null_and_empty_differ_and_null_is_absent)
{
    const char *const a[][2] = {{"db", NULL}};
    const char *const b[][2] = {{"db", ""}};
    char *ka = key_of(1, a), *kb = key_of(1, b), *kc = key_of(0, a);
    cr_assert_str_neq(ka, kb);
    cr_assert_str_eq(ka, kc, "NULL appends nothing");
    free(ka), free(kb), free(kc);
}

Test(key, long_keys_spill_to_the_heap_intact)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *const a[][2] = {{"init", "SET @a=1"}, {"init", big}, {"db", "t"}};
    char *ka = key_of(3, a);
    cr_assert_gt(strlen(ka), 3000);
    cr_assert(strstr(ka, "init=8:SET @a=1;init=2999:x") == ka, "%.40s", ka);
    cr_assert(strstr(ka, "x;db=1:t;") != NULL);
    free(ka);
}

Test(key, field_boundaries_cannot_be_forged)
{
    /* Without length prefixes these two would concatenate to the same bytes. */
    const char *const a[][2] = {{"user", "a;db=5:x"}, {"db", "y"}};
    const char *const b[][2] = {{"user", "a"}, {"db", "x;db=1:y"}};
    char *ka = key_of(2, a), *kb = key_of(2, b);
    cr_assert_str_neq(ka, kb);
    free(ka), free(kb);
}

Test(key, every_field_value_is_significant)
{
    const char *const base[][2] = {{"host", "h"}, {"user", "u"}, {"db", "d"}, {"charset", "c"}};
    char *kb = key_of(4, base);
    for (int i = 0; i < 4; i++) {
        const char *changed[4][2];
        memcpy(changed, base, sizeof changed);
        changed[i][1] = "other";
        char *kc = key_of(4, changed);
        cr_assert_str_neq(kb, kc, "field %s ignored", base[i][0]);
        free(kc);
    }
    char *again = key_of(4, base);
    cr_assert_str_eq(kb, again, "key building is not deterministic");
    free(kb), free(again);
}

Test(key, secrets_are_hashed_never_stored)
{
    ps_key k1, k2;
    ps_key_init(&k1);
    ps_key_init(&k2);
    ps_key_add_secret(&k1, "password", "hunter2-secret");
    ps_key_add_secret(&k2, "password", "hunter3-secret");
    const char *s1 = ps_key_str(&k1), *s2 = ps_key_str(&k2);
    cr_assert_null(strstr(s1, "hunter2"), "password leaked into the key: %s", s1);
    cr_assert_str_neq(s1, s2);
    char hex[65];
    ps_sha256_hex("hunter2-secret", 14, hex);
    cr_assert_not_null(strstr(s1, hex));
    ps_key_free(&k1);
    ps_key_free(&k2);
}

Test(key, numbers_are_fields_too)
{
    ps_key k1, k2;
    ps_key_init(&k1);
    ps_key_init(&k2);
    ps_key_add_uint(&k1, "port", 3306);
    ps_key_add_uint(&k2, "port", 3307);
    cr_assert_str_neq(ps_key_str(&k1), ps_key_str(&k2));
    ps_key_free(&k1);
    ps_key_free(&k2);
}

Test(key, label_names_the_dsn_without_password)
{
    char label[128];
    ps_key_label(label, sizeof label, "app", "127.0.0.1", 0, NULL, "t");
    cr_assert_str_eq(label, "app@127.0.0.1:3306/t");
    ps_key_label(label, sizeof label, "app", NULL, 0, "/run/mysqld.sock", NULL);
    cr_assert_str_eq(label, "app@/run/mysqld.sock/");
    ps_key_label(label, sizeof label, NULL, "db.example", 3307, NULL, "x");
    cr_assert_str_eq(label, "(default user)@db.example:3307/x");
}
