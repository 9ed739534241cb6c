/*
 * jsonw.h - a small streaming JSON writer that appends to a cdc_buf_t.
 *
 * Hand-written rather than jansson because it sits on the hot path (one call
 * per column of every row): jansson builds an object model that allocates per
 * value, this writes bytes straight into the caller's buffer and allocates only
 * when the buffer grows. It owns separators, nesting and string escaping; what
 * a value means (types, dates) belongs to the encoders above it.
 *
 * Strings: '"', '\\' and control characters are escaped (\b \f \n \r \t short
 * forms, others \u00XX in upper-case hex, as Jackson / Kafka's JsonConverter
 * writes them); valid UTF-8 is copied as is; each maximal ill-formed UTF-8
 * subpart (Unicode ch. 3, "U+FFFD substitution of maximal subparts") becomes
 * U+FFFD, so the output is always valid UTF-8 JSON. PostgreSQL validates text
 * encoding on input, so replacement only happens for data that was never
 * valid text; failing the whole row for it would be worse.
 *
 * Errors are sticky: after the first failure every call returns the same code
 * and writes nothing, so a caller may issue a run of calls and check once.
 */
#ifndef CDC_JSONW_H
#define CDC_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Deepest nesting of arrays/objects the writer accepts. */
#define CDC_JSONW_MAX_DEPTH 64

/*
 * The writer state lives on the caller's stack (no allocation per row), so the
 * struct is visible here; treat its fields as private.
 */
typedef struct {
    cdc_buf_t *buf;
    uint64_t is_object;  /* bit d: container at depth d+1 is an object */
    uint64_t has_member; /* bit d: container at depth d+1 has a member */
    unsigned depth;
    bool want_value;     /* a key was written; its value comes next */
    bool in_string;      /* between string_open and string_close */
    bool done;           /* the top-level value is complete */
    cdc_err_t err;       /* first error; CDC_OK while healthy */
} cdc_jsonw_t;

/* Start writing one JSON value at the end of buf (which the caller owns). */
void cdc_jsonw_init(cdc_jsonw_t *w, cdc_buf_t *buf);

/*
 * CDC_OK when exactly one complete top-level value was written; otherwise the
 * sticky error, or CDC_ERR_INVALID_ARG when containers are still open.
 */
cdc_err_t cdc_jsonw_finish(const cdc_jsonw_t *w);

cdc_err_t cdc_jsonw_object_begin(cdc_jsonw_t *w);
cdc_err_t cdc_jsonw_object_end(cdc_jsonw_t *w);
cdc_err_t cdc_jsonw_array_begin(cdc_jsonw_t *w);
cdc_err_t cdc_jsonw_array_end(cdc_jsonw_t *w);

/* An object member's name; the member's value must be written next. */
cdc_err_t cdc_jsonw_key(cdc_jsonw_t *w, const char *s, size_t len);
/* The same for a NUL-terminated key. */
cdc_err_t cdc_jsonw_key_str(cdc_jsonw_t *w, const char *s);

/* A string value; s may contain NUL bytes and any bytes at all (see above). */
cdc_err_t cdc_jsonw_string(cdc_jsonw_t *w, const char *s, size_t len);

/*
 * A string value written in pieces: open, any number of parts, close. Each part
 * is escaped like cdc_jsonw_string; a UTF-8 sequence split across two parts is
 * treated as ill-formed, so split only at ASCII bytes.
 */
cdc_err_t cdc_jsonw_string_open(cdc_jsonw_t *w);
cdc_err_t cdc_jsonw_string_part(cdc_jsonw_t *w, const char *s, size_t len);
cdc_err_t cdc_jsonw_string_close(cdc_jsonw_t *w);

/*
 * A number given as text, copied verbatim after checking it against the JSON
 * number grammar (RFC 8259 section 6); CDC_ERR_PARSE (sticky) when it does not
 * match. Check first with cdc_jsonw_number_valid() to fall back to a string.
 */
cdc_err_t cdc_jsonw_number(cdc_jsonw_t *w, const char *s, size_t len);
bool cdc_jsonw_number_valid(const char *s, size_t len);

cdc_err_t cdc_jsonw_int(cdc_jsonw_t *w, int64_t v);
cdc_err_t cdc_jsonw_bool(cdc_jsonw_t *w, bool v);
cdc_err_t cdc_jsonw_null(cdc_jsonw_t *w);

/*
 * Room for a value the caller renders itself: writes any separator, then
 * appends n bytes and returns a pointer to them, which the caller must fill
 * with exactly one valid JSON value (e.g. a quoted base64 string) before the
 * next call on w or on its buffer. NULL on error (see the sticky error).
 */
char *cdc_jsonw_raw(cdc_jsonw_t *w, size_t n);

/*
 * Append s escaped as the inside of a JSON string (no quotes) to b. For code
 * that builds JSON by hand, e.g. error payloads.
 */
cdc_err_t cdc_jsonw_escape(cdc_buf_t *b, const char *s, size_t len);

/*
 * Write the decimal text of v to dst (room for 20 bytes; no NUL) and return
 * its length: for values rendered through cdc_jsonw_raw.
 */
size_t cdc_jsonw_fmt_int(char *dst, int64_t v);

#endif
