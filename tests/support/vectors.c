/*
 * vectors.c - loading JSON test vectors (see vectors.h).
 */
#include "vectors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

json_t *cdc_vectors_load(const char *name)
{
    const char *dir = getenv("CDC_FIXTURES");
    char path[1024];
    json_error_t jerr;

    if (!dir)
        fail_msg("CDC_FIXTURES is not set (run through ctest)");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return root;
}

const char *cdc_vectors_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("fixture field %s is not a string", key);
    return json_string_value(v);
}

const char *cdc_vectors_str_or_null(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : cdc_vectors_str(obj, key);
}
