/*
 * test_store.c - the offset file: what a flush writes, byte for byte (also
 * for positions far larger than the writer's buffer), that it reads back,
 * and that a path it cannot write says which file and what to check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "offsets/store.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return text;
}

/* A store on offsets.json in a new temporary directory (dir: a mkdtemp
 * template, filled in; path: the file's). */
static cdc_offset_store_t *open_temp(char *dir, char *path, size_t n)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, n, "%s/offsets.json", dir);
    char errstr[512];
    cdc_err_t err;
    cdc_offset_store_t *s = cdc_offsets_open(path, errstr, sizeof errstr, &err);
    assert_non_null(s);
    return s;
}

static void test_flush_writes_exact_document(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_store.XXXXXX", path[256], errstr[512];
    cdc_offset_store_t *s = open_temp(dir, path, sizeof path);

    /* A 1 MB "seen" string: many times the writer's 64 KB buffer. */
    size_t big = 1 << 20;
    char *seen = malloc(big + 1);
    assert_non_null(seen);
    for (size_t i = 0; i < big; i++)
        seen[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[i % 32];
    seen[big] = '\0';
    json_t *a = json_pack("{s:s,s:[s],s:s}", "ts", "2026-11-28 10:00:00+00",
                          "key", "k1", "seen", seen);
    json_t *b = json_pack("{s:s,s:n}", "ts", "2026-11-28 11:00:00+00", "key");
    assert_int_equal(cdc_offsets_put(s, "public.a", a), CDC_OK);
    assert_int_equal(cdc_offsets_put(s, "public.b", b), CDC_OK);
    assert_int_equal(cdc_offsets_flush(s, errstr, sizeof errstr), CDC_OK);

    json_t *tables = json_pack("{s:O,s:O}", "public.a", a, "public.b", b);
    json_t *doc = json_pack("{s:i,s:o}", "version", 1, "tables", tables);
    char *want = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    size_t len;
    char *got = slurp(path, &len);
    assert_int_equal(len, strlen(want) + 1);
    assert_memory_equal(got, want, strlen(want));
    assert_int_equal(got[len - 1], '\n');
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);

    /* It reads back. */
    cdc_offsets_close(s);
    cdc_err_t err;
    s = cdc_offsets_open(path, errstr, sizeof errstr, &err);
    assert_non_null(s);
    assert_true(json_equal(cdc_offsets_get(s, "public.a"), a));
    assert_true(json_equal(cdc_offsets_get(s, "public.b"), b));

    cdc_offsets_close(s);
    free(got);
    free(want);
    free(seen);
    json_decref(doc);
    json_decref(a);
    json_decref(b);
    unlink(path);
    rmdir(dir);
}

static void test_unwritable_path_named(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_store.XXXXXX", path[256], errstr[512];
    cdc_offset_store_t *s = open_temp(dir, path, sizeof path);
    json_t *pos = json_pack("{s:s}", "ts", "2026-11-28 10:00:00+00");
    assert_int_equal(cdc_offsets_put(s, "public.a", pos), CDC_OK);
    rmdir(dir); /* the directory goes away under the store */
    assert_int_equal(cdc_offsets_flush(s, errstr, sizeof errstr), CDC_ERR_IO);
    char want[400];
    snprintf(want, sizeof want, "cannot write offsets to %s.tmp: No such file "
             "or directory (check offset.storage.file.filename)", path);
    assert_string_equal(errstr, want);
    json_decref(pos);
    cdc_offsets_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_writes_exact_document),
        cmocka_unit_test(test_unwritable_path_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
