/*
 * vectors.h - JSON test vectors from tests/fixtures, for unit tests.
 *
 * Reads $CDC_FIXTURES (CTest sets it) and checks field types; any problem
 * fails the running cmocka test with the file and line. Does not know what
 * a vector means: that is each test's business.
 */
#ifndef CDC_TEST_VECTORS_H
#define CDC_TEST_VECTORS_H

#include <jansson.h>

/* Parse $CDC_FIXTURES/name; a new reference for the caller to json_decref. */
json_t *cdc_vectors_load(const char *name);
/* obj's string field key; fails the test when it is missing or not a
 * string. The string belongs to obj. */
const char *cdc_vectors_str(const json_t *obj, const char *key);
/* Same, but NULL for a JSON null. */
const char *cdc_vectors_str_or_null(const json_t *obj, const char *key);

#endif
