/*
 * ini.h - reader for the AWS shared config and credentials files.
 *
 * Owns the file syntax only: [section] headers, key = value lines, full-line
 * comments (# or ;), indented sub-property blocks (skipped). Knows nothing of
 * profiles or which keys matter; auth/credentials.c does. Values are kept
 * verbatim (trimmed) and wiped on destroy, as they may be secret keys.
 */
#ifndef CDC_AUTH_INI_H
#define CDC_AUTH_INI_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef struct cdc_ini cdc_ini_t;

/*
 * Parse the file at path into *out (caller destroys). CDC_ERR_NOT_FOUND when
 * the file does not exist, CDC_ERR_IO when it cannot be read, CDC_ERR_PARSE
 * with "path:line: ..." for a line that is not a section, key = value,
 * comment or blank.
 */
cdc_err_t cdc_ini_load(const char *path, cdc_ini_t **out,
                       char *errstr, size_t errstr_size);

/* Same, from memory; name is used in error messages only. */
cdc_err_t cdc_ini_parse(const char *text, size_t len, const char *name,
                        cdc_ini_t **out, char *errstr, size_t errstr_size);

/* Wipe values and free. NULL ok. */
void cdc_ini_destroy(cdc_ini_t *ini);

/* Section names are compared exactly, after collapsing inner whitespace
 * ("[ profile  dev ]" is "profile dev"). NULL ini ok (false / NULL). */
bool cdc_ini_has_section(const cdc_ini_t *ini, const char *section);

/* The value of key (case-insensitive) in section; the last one wins when a
 * section or key repeats. NULL when absent. Valid until destroy. */
const char *cdc_ini_get(const cdc_ini_t *ini, const char *section,
                        const char *key);

#endif
