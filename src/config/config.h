/*
 * config.h - the daemon's configuration: loading, validation, typed access.
 *
 * Owns the key table (keys.def), the connector-JSON loader (Kafka Connect's
 * {"name":..,"config":{..}} or a bare map), ${env:VAR[:-default]}
 * substitution and every check that can be done without the network. Keys
 * under "kafka." and "transforms." are kept as free-form extras. Does not
 * own what the values mean at run time.
 */
#ifndef CDC_CONFIG_H
#define CDC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"

typedef enum {
#define CDC_KEY(id, name, type, def, min, max, choices, flags, doc) CDC_KEY_##id,
#include "config/keys.def"
#undef CDC_KEY
    CDC_KEY__COUNT
} cdc_key_t;

typedef struct cdc_config cdc_config_t;

/* A config holding only defaults. Returns NULL on allocation failure. */
cdc_config_t *cdc_config_new(void);
void cdc_config_destroy(cdc_config_t *c);

/*
 * Load a connector JSON file. Every problem found is appended to problems,
 * one line each, naming the key and file:line; returns CDC_ERR_CONFIG if
 * there was any. Loading continues past bad keys so all are reported.
 */
cdc_err_t cdc_config_load_file(cdc_config_t *c, const char *path,
                               cdc_buf_t *problems);
/* Same, from a string (source names it in messages, e.g. "test"). */
cdc_err_t cdc_config_load_string(cdc_config_t *c, const char *json,
                                 const char *source, cdc_buf_t *problems);

/* Set one key from text (env substitution applied). source e.g. "cli". */
cdc_err_t cdc_config_set(cdc_config_t *c, const char *key, const char *value,
                         const char *source, cdc_buf_t *problems);

/* Cross-key checks (required keys, sink needs, transforms); appends problems. */
cdc_err_t cdc_config_validate(const cdc_config_t *c, cdc_buf_t *problems);

/* Typed access. str: NULL when unset with no default (or set to "").
 * int/bool on a key of another type abort: that is a programming error. */
const char *cdc_config_str(const cdc_config_t *c, cdc_key_t key);
int64_t cdc_config_int(const cdc_config_t *c, cdc_key_t key);
bool cdc_config_bool(const cdc_config_t *c, cdc_key_t key);
/* True when the key was set by the loaded config (not a default). */
bool cdc_config_is_set(const cdc_config_t *c, cdc_key_t key);
/* Where the value came from: "file.json:12", "default", "cli". */
const char *cdc_config_source(const cdc_config_t *c, cdc_key_t key);

/* Split a LIST value: calls fn for each trimmed, non-empty element. */
void cdc_config_list_each(const cdc_config_t *c, cdc_key_t key,
                          void (*fn)(const char *item, void *ctx), void *ctx);
size_t cdc_config_list_count(const cdc_config_t *c, cdc_key_t key);

/* Free-form keys under a prefix ("kafka.", "transforms."), in load order.
 * Returns the number of matches; fn may be NULL to just count. Includes
 * table keys flagged KF_KAFKA when the prefix is "kafka.". */
size_t cdc_config_extras_each(const cdc_config_t *c, const char *prefix,
                              void (*fn)(const char *key, const char *value,
                                         void *ctx),
                              void *ctx);
/* Value of a free-form key, or NULL. */
const char *cdc_config_extra(const cdc_config_t *c, const char *key);

/* True when a key (table or free-form) holds a secret. */
bool cdc_config_key_is_secret(const char *key);

/* Print "key = value (source)" for every set key and extra, secrets masked. */
void cdc_config_print(const cdc_config_t *c, FILE *out);

/* Every set key and extra as a JSON object of strings (defaults left out),
 * secrets replaced by "********". New reference; NULL on failure. */
json_t *cdc_config_to_json(const cdc_config_t *c);

/* Markdown reference of every key (docs/config.md is this output). */
void cdc_config_write_reference(FILE *out);

/* Names for --help: key name by id. */
const char *cdc_config_key_name(cdc_key_t key);

#endif
