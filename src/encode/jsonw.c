/*
 * jsonw.c - streaming JSON writer (see jsonw.h).
 */
#include "encode/jsonw.h"

#include <string.h>

/*
 * What to do with each byte inside a string. ASCII is copied or escaped; a
 * UTF-8 lead byte names which bytes may follow it (RFC 3629 / Unicode table
 * 3-7: E0 and F0 exclude overlongs, ED excludes surrogates, F4 stops at
 * U+10FFFF); anything else cannot start a well-formed sequence.
 */
enum {
    C_COPY = 0, /* printable ASCII (DEL included: Jackson leaves it alone) */
    C_ESC,      /* '"', '\\', control characters */
    C_U2,       /* C2..DF: one continuation byte */
    C_E0,       /* E0: A0..BF, then one continuation */
    C_U3,       /* E1..EC, EE..EF: two continuation bytes */
    C_ED,       /* ED: 80..9F, then one continuation */
    C_F0,       /* F0: 90..BF, then two continuations */
    C_U4,       /* F1..F3: three continuation bytes */
    C_F4,       /* F4: 80..8F, then two continuations */
    C_BAD,      /* 80..C1, F5..FF: never valid here */
};

static const unsigned char byte_class[256] = {
    /* 0x00 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x10 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x20 */ 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x30 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    /* 0x60 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x70 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x80 */ 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    /* 0x90 */ 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    /* 0xA0 */ 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    /* 0xB0 */ 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    /* 0xC0 */ 9, 9, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* 0xD0 */ 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* 0xE0 */ 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 4, 4,
    /* 0xF0 */ 6, 7, 7, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
};

static const char hex_upper[] = "0123456789ABCDEF";

/* The letter after '\\' for the bytes of class C_ESC that have a short form
 * (RFC 8259 section 7); 0: written as \u00XX. */
static const char short_escape[0x60] = {
    ['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
    ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};

/*
 * Length of the well-formed UTF-8 sequence at p (lead byte class cls), or 0
 * with *bad set to the length of its maximal ill-formed subpart, which is
 * replaced by a single U+FFFD.
 */
static size_t utf8_seq(const unsigned char *p, size_t avail, unsigned cls,
                       size_t *bad)
{
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;

    switch (cls) {
    case C_U2: need = 2; break;
    case C_E0: need = 3; lo = 0xA0; break;
    case C_U3: need = 3; break;
    case C_ED: need = 3; hi = 0x9F; break;
    case C_F0: need = 4; lo = 0x90; break;
    case C_U4: need = 4; break;
    case C_F4: need = 4; hi = 0x8F; break;
    default: *bad = 1; return 0;
    }
    if (avail < 2 || p[1] < lo || p[1] > hi) {
        *bad = 1;
        return 0;
    }
    for (size_t k = 2; k < need; k++) {
        if (k >= avail || (p[k] & 0xC0) != 0x80) {
            *bad = k;
            return 0;
        }
    }
    return need;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * Non-zero when one of the 8 bytes in v needs a look (below 0x20, '"', '\\'
 * or 0x80 and up), zero when all are plain ASCII. Each subtraction is the
 * "has a zero byte" test: a borrow only ever runs upwards from a byte that
 * really matched, so the lowest set bit (little-endian: the first byte in
 * memory) marks a byte that needs a look.
 */
static inline uint64_t word_special(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"'), bs = v ^ (ONES * '\\');
    return ((v - ONES * 0x20) | (q - ONES) | (bs - ONES) | v) & HIGHS;
}

/*
 * Append s escaped. Plain ASCII is copied 8 bytes at a time (byte by byte on
 * big-endian machines and for the last few bytes). The buffer always has
 * room for the rest of the input as is, so it grows only when an escape or a
 * replacement expands the text, and that check is inline.
 */
static cdc_err_t put_escaped(cdc_buf_t *b, const unsigned char *s, size_t len)
{
    if (cdc_buf_reserve(b, len) != CDC_OK)
        return CDC_ERR_NOMEM;

    const unsigned char *p = s, *end = s + len;
    size_t start = b->len;
    char *o = b->data + b->len;
    /* Invariant: lim - o >= end - p (the NUL's byte is past lim). */
    const char *lim = b->data + b->cap - 1;
    while (p != end) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            /* Room for all 8 even when only a prefix is plain: the rest
             * is overwritten by what follows. */
            memcpy(o, &v, 8);
            uint64_t t = word_special(v);
            if (t) {
                size_t k = (size_t)__builtin_ctzll(t) >> 3;
                o += k;
                p += k;
                goto special;
            }
            o += 8;
            p += 8;
        }
#endif
        while (p != end && byte_class[*p] == C_COPY)
            *o++ = (char)*p++;
        if (p == end)
            break;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    special:;
#endif
        unsigned c = *p, cls = byte_class[c];
        size_t skip = 1;
        if (cls != C_ESC) {
            size_t n = utf8_seq(p, (size_t)(end - p), cls, &skip);
            if (n) {
                for (size_t k = 0; k < n; k++)
                    o[k] = (char)p[k];
                o += n;
                p += n;
                continue;
            }
        }
        /* Room for the escape (at most 6 bytes) and the rest as is. */
        size_t rest = (size_t)(end - p);
        if ((size_t)(lim - o) < 6 + rest) {
            b->len = (size_t)(o - b->data);
            if (cdc_buf_reserve(b, 6 + rest) != CDC_OK) {
                b->len = start; /* leave the buffer as it was */
                b->data[b->len] = '\0';
                return CDC_ERR_NOMEM;
            }
            o = b->data + b->len;
            lim = b->data + b->cap - 1;
        }
        if (cls != C_ESC) {
            o[0] = (char)0xEF; /* U+FFFD */
            o[1] = (char)0xBF;
            o[2] = (char)0xBD;
            o += 3;
        } else if (short_escape[c]) {
            o[0] = '\\';
            o[1] = short_escape[c];
            o += 2;
        } else {
            o[0] = '\\';
            o[1] = 'u';
            o[2] = '0';
            o[3] = '0';
            o[4] = hex_upper[c >> 4];
            o[5] = hex_upper[c & 0xF];
            o += 6;
        }
        p += skip;
    }
    b->len = (size_t)(o - b->data);
    *o = '\0';
    return CDC_OK;
}

static cdc_err_t fail(cdc_jsonw_t *w, cdc_err_t err)
{
    if (w->err == CDC_OK)
        w->err = err;
    return w->err;
}

/* Inline, so that appends of a constant length become plain stores. */
static inline cdc_err_t put(cdc_jsonw_t *w, const char *s, size_t n)
{
    if (cdc_buf_append(w->buf, s, n) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    return CDC_OK;
}

static inline cdc_err_t put_c(cdc_jsonw_t *w, char c)
{
    if (cdc_buf_putc(w->buf, c) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    return CDC_OK;
}

/* Check a value may come here and write the separator in front of it. */
static cdc_err_t before_value(cdc_jsonw_t *w)
{
    if (w->err != CDC_OK)
        return w->err;
    if (w->in_string)
        return fail(w, CDC_ERR_INVALID_ARG);
    if (w->depth == 0)
        return w->done ? fail(w, CDC_ERR_INVALID_ARG) : CDC_OK;

    uint64_t bit = UINT64_C(1) << (w->depth - 1);
    if (w->is_object & bit) {
        if (!w->want_value)
            return fail(w, CDC_ERR_INVALID_ARG); /* value without a key */
        w->want_value = false;
        return CDC_OK;
    }
    if (w->has_member & bit)
        return put_c(w, ',');
    w->has_member |= bit;
    return CDC_OK;
}

static void after_value(cdc_jsonw_t *w)
{
    if (w->depth == 0)
        w->done = true;
}

void cdc_jsonw_init(cdc_jsonw_t *w, cdc_buf_t *buf)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    w->err = CDC_OK;
}

cdc_err_t cdc_jsonw_finish(const cdc_jsonw_t *w)
{
    if (w->err != CDC_OK)
        return w->err;
    if (w->in_string || w->depth != 0 || !w->done)
        return CDC_ERR_INVALID_ARG;
    return CDC_OK;
}

static cdc_err_t container_begin(cdc_jsonw_t *w, bool object)
{
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    if (w->depth >= CDC_JSONW_MAX_DEPTH)
        return fail(w, CDC_ERR_INVALID_ARG);
    if ((err = put_c(w, object ? '{' : '[')) != CDC_OK)
        return err;
    uint64_t bit = UINT64_C(1) << w->depth;
    if (object)
        w->is_object |= bit;
    else
        w->is_object &= ~bit;
    w->has_member &= ~bit;
    w->depth++;
    return CDC_OK;
}

static cdc_err_t container_end(cdc_jsonw_t *w, bool object)
{
    if (w->err != CDC_OK)
        return w->err;
    if (w->in_string || w->depth == 0 || w->want_value)
        return fail(w, CDC_ERR_INVALID_ARG);
    bool is_obj = (w->is_object >> (w->depth - 1)) & 1;
    if (is_obj != object)
        return fail(w, CDC_ERR_INVALID_ARG);
    cdc_err_t err = put_c(w, object ? '}' : ']');
    if (err != CDC_OK)
        return err;
    w->depth--;
    after_value(w);
    return CDC_OK;
}

cdc_err_t cdc_jsonw_object_begin(cdc_jsonw_t *w)
{
    return container_begin(w, true);
}

cdc_err_t cdc_jsonw_object_end(cdc_jsonw_t *w)
{
    return container_end(w, true);
}

cdc_err_t cdc_jsonw_array_begin(cdc_jsonw_t *w)
{
    return container_begin(w, false);
}

cdc_err_t cdc_jsonw_array_end(cdc_jsonw_t *w)
{
    return container_end(w, false);
}

cdc_err_t cdc_jsonw_key(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (w->err != CDC_OK)
        return w->err;
    if (w->in_string || w->depth == 0 || w->want_value ||
        !((w->is_object >> (w->depth - 1)) & 1))
        return fail(w, CDC_ERR_INVALID_ARG);

    /* One check covers the separator, the quotes and the colon unless the
     * name needs escapes (put_escaped then grows the buffer itself). */
    cdc_buf_t *b = w->buf;
    if (cdc_buf_reserve(b, len + 4) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    uint64_t bit = UINT64_C(1) << (w->depth - 1);
    if (w->has_member & bit)
        b->data[b->len++] = ',';
    w->has_member |= bit;
    b->data[b->len++] = '"';
    if (put_escaped(b, (const unsigned char *)s, len) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    cdc_err_t err = put(w, "\":", 2);
    if (err != CDC_OK)
        return err;
    w->want_value = true;
    return CDC_OK;
}

cdc_err_t cdc_jsonw_key_str(cdc_jsonw_t *w, const char *s)
{
    return cdc_jsonw_key(w, s, strlen(s));
}

cdc_err_t cdc_jsonw_string(cdc_jsonw_t *w, const char *s, size_t len)
{
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    /* One check for both quotes unless the text needs escapes. */
    cdc_buf_t *b = w->buf;
    if (cdc_buf_reserve(b, len + 2) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    b->data[b->len++] = '"';
    if (put_escaped(b, (const unsigned char *)s, len) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    if ((err = put_c(w, '"')) != CDC_OK)
        return err;
    after_value(w);
    return CDC_OK;
}

cdc_err_t cdc_jsonw_string_open(cdc_jsonw_t *w)
{
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    if ((err = put_c(w, '"')) != CDC_OK)
        return err;
    w->in_string = true;
    return CDC_OK;
}

cdc_err_t cdc_jsonw_string_part(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (w->err != CDC_OK)
        return w->err;
    if (!w->in_string)
        return fail(w, CDC_ERR_INVALID_ARG);
    if (put_escaped(w->buf, (const unsigned char *)s, len) != CDC_OK)
        return fail(w, CDC_ERR_NOMEM);
    return CDC_OK;
}

cdc_err_t cdc_jsonw_string_close(cdc_jsonw_t *w)
{
    if (w->err != CDC_OK)
        return w->err;
    if (!w->in_string)
        return fail(w, CDC_ERR_INVALID_ARG);
    cdc_err_t err = put_c(w, '"');
    if (err != CDC_OK)
        return err;
    w->in_string = false;
    after_value(w);
    return CDC_OK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool cdc_jsonw_number_valid(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && is_digit(s[i]))
            i++;
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    return i == len;
}

cdc_err_t cdc_jsonw_number(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (w->err != CDC_OK)
        return w->err;
    if (!cdc_jsonw_number_valid(s, len))
        return fail(w, CDC_ERR_PARSE);
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    if ((err = put(w, s, len)) != CDC_OK)
        return err;
    after_value(w);
    return CDC_OK;
}

size_t cdc_jsonw_fmt_int(char *dst, int64_t v)
{
    /* Two digits per division: "00" "01" ... "99". */
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    char tmp[20];
    size_t n = sizeof(tmp), len = 0;
    /* Negate in unsigned arithmetic so INT64_MIN is fine. */
    uint64_t u = v < 0 ? UINT64_C(0) - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--n] = pairs[d + 1];
        tmp[--n] = pairs[d];
    }
    if (u >= 10) {
        tmp[--n] = pairs[u * 2 + 1];
        tmp[--n] = pairs[u * 2];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    if (v < 0)
        dst[len++] = '-';
    memcpy(dst + len, tmp + n, sizeof(tmp) - n);
    return len + sizeof(tmp) - n;
}

cdc_err_t cdc_jsonw_int(cdc_jsonw_t *w, int64_t v)
{
    char tmp[20];
    size_t n = cdc_jsonw_fmt_int(tmp, v);
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    if ((err = put(w, tmp, n)) != CDC_OK)
        return err;
    after_value(w);
    return CDC_OK;
}

cdc_err_t cdc_jsonw_bool(cdc_jsonw_t *w, bool v)
{
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    if ((err = v ? put(w, "true", 4) : put(w, "false", 5)) != CDC_OK)
        return err;
    after_value(w);
    return CDC_OK;
}

cdc_err_t cdc_jsonw_null(cdc_jsonw_t *w)
{
    cdc_err_t err = before_value(w);
    if (err != CDC_OK)
        return err;
    if ((err = put(w, "null", 4)) != CDC_OK)
        return err;
    after_value(w);
    return CDC_OK;
}

char *cdc_jsonw_raw(cdc_jsonw_t *w, size_t n)
{
    if (before_value(w) != CDC_OK)
        return NULL;
    if (cdc_buf_reserve(w->buf, n) != CDC_OK) {
        fail(w, CDC_ERR_NOMEM);
        return NULL;
    }
    char *p = w->buf->data + w->buf->len;
    w->buf->len += n;
    w->buf->data[w->buf->len] = '\0';
    after_value(w);
    return p;
}

cdc_err_t cdc_jsonw_escape(cdc_buf_t *b, const char *s, size_t len)
{
    return put_escaped(b, (const unsigned char *)s, len);
}
