/*
 * pgtypes.c - one PostgreSQL text value -> one JSON value (see pgtypes.h).
 *
 * Parsers here accept exactly what PostgreSQL's output functions print for the
 * session settings in change.h (plus 'T' as date/time separator), so a value
 * from anywhere else is reported rather than guessed at. No allocation: dates
 * are converted with integer arithmetic, arrays are parsed in place.
 */
#include "encode/pgtypes.h"

#include <stdbool.h>
#include <string.h>

/* How a type's values are rendered. */
typedef enum {
    K_STRING,
    K_BOOL,
    K_INT2,
    K_INT4,
    K_INT8,
    K_OID,
    K_FLOAT,
    K_NUMERIC,
    K_DATE,
    K_TIME,
    K_TIMESTAMP,
    K_TIMESTAMPTZ,
    K_TIMETZ,
    K_BYTEA,
} kind_t;

/* PostgreSQL's MAXDIM. */
#define PG_ARRAY_MAX_DIM 6
/* Longest escaped array element of a non-string type we unescape. */
#define ELEM_SCRATCH 128

#define USECS_PER_SEC INT64_C(1000000)
#define USECS_PER_DAY INT64_C(86400000000)
#define SECS_PER_DAY INT64_C(86400)

static kind_t kind_of(uint32_t oid)
{
    switch (oid) {
    case CDC_PGOID_BOOL: return K_BOOL;
    case CDC_PGOID_INT2: return K_INT2;
    case CDC_PGOID_INT4: return K_INT4;
    case CDC_PGOID_INT8: return K_INT8;
    case CDC_PGOID_OID: return K_OID;
    case CDC_PGOID_FLOAT4:
    case CDC_PGOID_FLOAT8: return K_FLOAT;
    case CDC_PGOID_NUMERIC: return K_NUMERIC;
    case CDC_PGOID_DATE: return K_DATE;
    case CDC_PGOID_TIME: return K_TIME;
    case CDC_PGOID_TIMESTAMP: return K_TIMESTAMP;
    case CDC_PGOID_TIMESTAMPTZ: return K_TIMESTAMPTZ;
    case CDC_PGOID_TIMETZ: return K_TIMETZ;
    case CDC_PGOID_BYTEA: return K_BYTEA;
    default: return K_STRING;
    }
}

uint32_t cdc_pgtypes_array_elem(uint32_t oid)
{
    switch (oid) {
    case CDC_PGOID_BOOL_ARRAY: return CDC_PGOID_BOOL;
    case CDC_PGOID_BYTEA_ARRAY: return CDC_PGOID_BYTEA;
    case CDC_PGOID_CHAR_ARRAY: return CDC_PGOID_CHAR;
    case CDC_PGOID_NAME_ARRAY: return CDC_PGOID_NAME;
    case CDC_PGOID_INT2_ARRAY: return CDC_PGOID_INT2;
    case CDC_PGOID_INT4_ARRAY: return CDC_PGOID_INT4;
    case CDC_PGOID_INT8_ARRAY: return CDC_PGOID_INT8;
    case CDC_PGOID_TEXT_ARRAY: return CDC_PGOID_TEXT;
    case CDC_PGOID_OID_ARRAY: return CDC_PGOID_OID;
    case CDC_PGOID_JSON_ARRAY: return CDC_PGOID_JSON;
    case CDC_PGOID_XML_ARRAY: return CDC_PGOID_XML;
    case CDC_PGOID_CIDR_ARRAY: return CDC_PGOID_CIDR;
    case CDC_PGOID_FLOAT4_ARRAY: return CDC_PGOID_FLOAT4;
    case CDC_PGOID_FLOAT8_ARRAY: return CDC_PGOID_FLOAT8;
    case CDC_PGOID_MACADDR8_ARRAY: return CDC_PGOID_MACADDR8;
    case CDC_PGOID_MONEY_ARRAY: return CDC_PGOID_MONEY;
    case CDC_PGOID_MACADDR_ARRAY: return CDC_PGOID_MACADDR;
    case CDC_PGOID_INET_ARRAY: return CDC_PGOID_INET;
    case CDC_PGOID_BPCHAR_ARRAY: return CDC_PGOID_BPCHAR;
    case CDC_PGOID_VARCHAR_ARRAY: return CDC_PGOID_VARCHAR;
    case CDC_PGOID_DATE_ARRAY: return CDC_PGOID_DATE;
    case CDC_PGOID_TIME_ARRAY: return CDC_PGOID_TIME;
    case CDC_PGOID_TIMESTAMP_ARRAY: return CDC_PGOID_TIMESTAMP;
    case CDC_PGOID_TIMESTAMPTZ_ARRAY: return CDC_PGOID_TIMESTAMPTZ;
    case CDC_PGOID_INTERVAL_ARRAY: return CDC_PGOID_INTERVAL;
    case CDC_PGOID_TIMETZ_ARRAY: return CDC_PGOID_TIMETZ;
    case CDC_PGOID_NUMERIC_ARRAY: return CDC_PGOID_NUMERIC;
    case CDC_PGOID_UUID_ARRAY: return CDC_PGOID_UUID;
    case CDC_PGOID_JSONB_ARRAY: return CDC_PGOID_JSONB;
    default: return 0;
    }
}

static const char *scalar_name(uint32_t oid)
{
    switch (oid) {
    case CDC_PGOID_BOOL: return "bool";
    case CDC_PGOID_BYTEA: return "bytea";
    case CDC_PGOID_CHAR: return "char";
    case CDC_PGOID_NAME: return "name";
    case CDC_PGOID_INT8: return "int8";
    case CDC_PGOID_INT2: return "int2";
    case CDC_PGOID_INT4: return "int4";
    case CDC_PGOID_TEXT: return "text";
    case CDC_PGOID_OID: return "oid";
    case CDC_PGOID_JSON: return "json";
    case CDC_PGOID_XML: return "xml";
    case CDC_PGOID_CIDR: return "cidr";
    case CDC_PGOID_FLOAT4: return "float4";
    case CDC_PGOID_FLOAT8: return "float8";
    case CDC_PGOID_UNKNOWN: return "unknown";
    case CDC_PGOID_MACADDR8: return "macaddr8";
    case CDC_PGOID_MONEY: return "money";
    case CDC_PGOID_MACADDR: return "macaddr";
    case CDC_PGOID_INET: return "inet";
    case CDC_PGOID_BPCHAR: return "bpchar";
    case CDC_PGOID_VARCHAR: return "varchar";
    case CDC_PGOID_DATE: return "date";
    case CDC_PGOID_TIME: return "time";
    case CDC_PGOID_TIMESTAMP: return "timestamp";
    case CDC_PGOID_TIMESTAMPTZ: return "timestamptz";
    case CDC_PGOID_INTERVAL: return "interval";
    case CDC_PGOID_TIMETZ: return "timetz";
    case CDC_PGOID_NUMERIC: return "numeric";
    case CDC_PGOID_UUID: return "uuid";
    case CDC_PGOID_JSONB: return "jsonb";
    default: return NULL;
    }
}

const char *cdc_pgtypes_name(uint32_t oid)
{
    switch (oid) {
    case CDC_PGOID_BOOL_ARRAY: return "bool[]";
    case CDC_PGOID_BYTEA_ARRAY: return "bytea[]";
    case CDC_PGOID_CHAR_ARRAY: return "char[]";
    case CDC_PGOID_NAME_ARRAY: return "name[]";
    case CDC_PGOID_INT2_ARRAY: return "int2[]";
    case CDC_PGOID_INT4_ARRAY: return "int4[]";
    case CDC_PGOID_INT8_ARRAY: return "int8[]";
    case CDC_PGOID_TEXT_ARRAY: return "text[]";
    case CDC_PGOID_OID_ARRAY: return "oid[]";
    case CDC_PGOID_JSON_ARRAY: return "json[]";
    case CDC_PGOID_XML_ARRAY: return "xml[]";
    case CDC_PGOID_CIDR_ARRAY: return "cidr[]";
    case CDC_PGOID_FLOAT4_ARRAY: return "float4[]";
    case CDC_PGOID_FLOAT8_ARRAY: return "float8[]";
    case CDC_PGOID_MACADDR8_ARRAY: return "macaddr8[]";
    case CDC_PGOID_MONEY_ARRAY: return "money[]";
    case CDC_PGOID_MACADDR_ARRAY: return "macaddr[]";
    case CDC_PGOID_INET_ARRAY: return "inet[]";
    case CDC_PGOID_BPCHAR_ARRAY: return "bpchar[]";
    case CDC_PGOID_VARCHAR_ARRAY: return "varchar[]";
    case CDC_PGOID_DATE_ARRAY: return "date[]";
    case CDC_PGOID_TIME_ARRAY: return "time[]";
    case CDC_PGOID_TIMESTAMP_ARRAY: return "timestamp[]";
    case CDC_PGOID_TIMESTAMPTZ_ARRAY: return "timestamptz[]";
    case CDC_PGOID_INTERVAL_ARRAY: return "interval[]";
    case CDC_PGOID_TIMETZ_ARRAY: return "timetz[]";
    case CDC_PGOID_NUMERIC_ARRAY: return "numeric[]";
    case CDC_PGOID_UUID_ARRAY: return "uuid[]";
    case CDC_PGOID_JSONB_ARRAY: return "jsonb[]";
    default: return scalar_name(oid);
    }
}

/* ---- small parsing helpers --------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool span_eq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

/* Read min..max digits at *p into *out; advance *p. */
static bool read_digits(const char **p, const char *end, int min, int max,
                        int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    while (*p < end && is_digit(**p) && n < max) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n < min || (*p < end && is_digit(**p)))
        return false;
    *out = v;
    return true;
}

/*
 * read_2(p, end, out), the shape of every date and time field
 * but the year and the fraction, without the loop.
 */
static inline bool read_2(const char **p, const char *end, int64_t *out)
{
    const char *q = *p;
    if (end - q < 2 || !is_digit(q[0]) || !is_digit(q[1]) ||
        (end - q > 2 && is_digit(q[2])))
        return false;
    *out = (q[0] - '0') * 10 + (q[1] - '0');
    *p = q + 2;
    return true;
}

static bool read_char(const char **p, const char *end, char c)
{
    if (*p < end && **p == c) {
        (*p)++;
        return true;
    }
    return false;
}

/* ---- calendar arithmetic (proleptic Gregorian, astronomical years) ----- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cdc_pgtypes_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- date/time text ----------------------------------------------------- */

/* "YYYY-MM-DD" (4 to 7 year digits) -> year/month/day, year as printed. */
static bool parse_ymd(const char **p, const char *end, int64_t *y, int *m,
                      int *d)
{
    int64_t v;
    if (!read_digits(p, end, 4, 7, y) || !read_char(p, end, '-'))
        return false;
    if (!read_2(p, end, &v) || v < 1 || v > 12)
        return false;
    *m = (int)v;
    if (!read_char(p, end, '-') || !read_2(p, end, &v) || v < 1)
        return false;
    *d = (int)v;
    return true;
}

/*
 * "HH:MM:SS[.f{1,6}]" -> microseconds since midnight. Hour 24 is allowed
 * (only as 24:00:00) when allow_24, as the time types print it.
 */
static bool parse_hms(const char **p, const char *end, bool allow_24,
                      int64_t *usec)
{
    int64_t h, mi, s, frac = 0;
    if (!read_2(p, end, &h) || !read_char(p, end, ':') ||
        !read_2(p, end, &mi) || !read_char(p, end, ':') ||
        !read_2(p, end, &s))
        return false;
    if (read_char(p, end, '.')) {
        const char *start = *p;
        if (!read_digits(p, end, 1, 6, &frac))
            return false;
        for (long n = *p - start; n < 6; n++)
            frac *= 10;
    }
    if (mi > 59 || s > 59)
        return false;
    if (h > 24 || (h == 24 && (!allow_24 || mi || s || frac)))
        return false;
    *usec = ((h * 60 + mi) * 60 + s) * USECS_PER_SEC + frac;
    return true;
}

/* "+HH[:MM[:SS]]" / "-..." -> seconds east of UTC. */
static bool parse_offset(const char **p, const char *end, int64_t *secs)
{
    int sign;
    if (read_char(p, end, '+'))
        sign = 1;
    else if (read_char(p, end, '-'))
        sign = -1;
    else
        return false;
    int64_t h, mi = 0, s = 0;
    if (!read_2(p, end, &h) || h > 15)
        return false;
    if (read_char(p, end, ':')) {
        if (!read_2(p, end, &mi) || mi > 59)
            return false;
        if (read_char(p, end, ':') &&
            (!read_2(p, end, &s) || s > 59))
            return false;
    }
    *secs = sign * ((h * 60 + mi) * 60 + s);
    return true;
}

/* Optional " BC" suffix, then the end of the text. */
static bool parse_era_end(const char **p, const char *end, bool *bc)
{
    *bc = false;
    if (end - *p == 3 && memcmp(*p, " BC", 3) == 0) {
        *bc = true;
        *p = end;
    }
    return *p == end;
}

/* Printed year (1 BC = year 1 with BC) -> astronomical year, checking day. */
static bool fix_date(int64_t *y, int m, int d, bool bc)
{
    if (*y < 1) /* PostgreSQL prints year 0 as 0001 BC */
        return false;
    if (bc)
        *y = 1 - *y;
    return d <= days_in_month(*y, m);
}

/*
 * [date] [time] for timestamp / timestamptz: the date (astronomical year),
 * the time of day and the offset.
 */
static bool parse_datetime_parts(const char *s, size_t len, bool with_tz,
                                 int64_t *y, int *m, int *d, int64_t *tod,
                                 int64_t *offset)
{
    const char *p = s, *end = s + len;
    bool bc;
    *offset = 0;
    if (!parse_ymd(&p, end, y, m, d))
        return false;
    if (!read_char(&p, end, ' ') && !read_char(&p, end, 'T'))
        return false;
    if (!parse_hms(&p, end, false, tod))
        return false;
    if (with_tz && !parse_offset(&p, end, offset))
        return false;
    return parse_era_end(&p, end, &bc) && fix_date(y, *m, *d, bc);
}

/* The same with the date as days since 1970-01-01. */
static bool parse_datetime(const char *s, size_t len, bool with_tz,
                           int64_t *days, int64_t *tod, int64_t *offset)
{
    int64_t y;
    int m, d;
    if (!parse_datetime_parts(s, len, with_tz, &y, &m, &d, tod, offset))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

/* Java's ISO year: 4 digits padded, '-' before negative, '+' above 9999. */
static size_t fmt_year(char *o, int64_t y)
{
    size_t n = 0;
    if (y < 0) {
        o[n++] = '-';
        y = -y;
    } else if (y > 9999) {
        o[n++] = '+';
    }
    if (y <= 9999) { /* the usual case: exactly four digits */
        o[n] = (char)('0' + y / 1000);
        o[n + 1] = (char)('0' + y / 100 % 10);
        o[n + 2] = (char)('0' + y / 10 % 10);
        o[n + 3] = (char)('0' + y % 10);
        return n + 4;
    }
    char tmp[20];
    size_t k = cdc_jsonw_fmt_int(tmp, y);
    for (size_t pad = k; pad < 4; pad++)
        o[n++] = '0';
    memcpy(o + n, tmp, k);
    return n + k;
}

static size_t fmt_2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
    return 2;
}

/*
 * "HH:MM:SS" plus ".f" without trailing zeros when the fraction is not 0.
 * usec_of_day is within [0, one day), so 32-bit unsigned parts suffice.
 */
static size_t fmt_time(char *o, int64_t usec_of_day)
{
    uint32_t secs = (uint32_t)(usec_of_day / USECS_PER_SEC);
    uint32_t frac = (uint32_t)(usec_of_day % USECS_PER_SEC);
    size_t n = 0;
    n += fmt_2(o + n, secs / 3600);
    o[n++] = ':';
    n += fmt_2(o + n, secs / 60 % 60);
    o[n++] = ':';
    n += fmt_2(o + n, secs % 60);
    if (frac) {
        int digits = 6;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        o[n++] = '.';
        for (int i = digits - 1; i >= 0; i--) {
            o[n + (size_t)i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        n += (size_t)digits;
    }
    return n;
}

/* Append a pre-rendered string value (no escaping needed) in quotes. */
static cdc_err_t put_plain_string(cdc_jsonw_t *w, const char *s, size_t n)
{
    char *o = cdc_jsonw_raw(w, n + 2);
    if (!o)
        return CDC_ERR_NOMEM;
    o[0] = '"';
    memcpy(o + 1, s, n);
    o[n + 1] = '"';
    return CDC_OK;
}

static cdc_err_t render_timestamptz(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (span_eq(s, len, "infinity") || span_eq(s, len, "-infinity"))
        return put_plain_string(w, s, len);

    int64_t y, tod, offset;
    int m, d;
    if (!parse_datetime_parts(s, len, true, &y, &m, &d, &tod, &offset))
        return CDC_ERR_PARSE;
    int64_t usec_frac = tod % USECS_PER_SEC;
    int64_t sod = tod / USECS_PER_SEC;
    /* At offset 0 (what a UTC session prints) the date and time stay. */
    if (offset != 0) {
        /* Seconds fit easily: |days| < 2^32, so no overflow. */
        int64_t secs = days_from_civil(y, m, d) * SECS_PER_DAY + sod - offset;
        int64_t udays = floor_div(secs, SECS_PER_DAY);
        sod = secs - udays * SECS_PER_DAY;
        cdc_pgtypes_civil_from_days(udays, &y, &m, &d);
    }

    char o[64];
    size_t n = fmt_year(o, y);
    o[n++] = '-';
    n += fmt_2(o + n, m);
    o[n++] = '-';
    n += fmt_2(o + n, d);
    o[n++] = 'T';
    n += fmt_time(o + n, sod * USECS_PER_SEC + usec_frac);
    o[n++] = 'Z';
    return put_plain_string(w, o, n);
}

static cdc_err_t render_timestamp(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (span_eq(s, len, "infinity"))
        return cdc_jsonw_int(w, INT64_MAX);
    if (span_eq(s, len, "-infinity"))
        return cdc_jsonw_int(w, INT64_MIN);

    int64_t days, tod, offset, usec;
    if (!parse_datetime(s, len, false, &days, &tod, &offset))
        return CDC_ERR_PARSE;
    /* Years near PostgreSQL's limit (294276 AD) overflow epoch micros. */
    if (__builtin_mul_overflow(days, USECS_PER_DAY, &usec) ||
        __builtin_add_overflow(usec, tod, &usec))
        return CDC_ERR_PARSE;
    return cdc_jsonw_int(w, usec);
}

cdc_err_t cdc_pgtypes_epoch_us(uint32_t type_oid, const char *s, size_t len,
                               int64_t *out)
{
    if (span_eq(s, len, "infinity")) {
        *out = INT64_MAX;
        return CDC_OK;
    }
    if (span_eq(s, len, "-infinity")) {
        *out = INT64_MIN;
        return CDC_OK;
    }
    int64_t days, tod = 0, offset = 0, usec;
    if (type_oid == CDC_PGOID_DATE) {
        const char *p = s, *end = s + len;
        int64_t y;
        int m, d;
        bool bc;
        if (!parse_ymd(&p, end, &y, &m, &d) || !parse_era_end(&p, end, &bc) ||
            !fix_date(&y, m, d, bc))
            return CDC_ERR_PARSE;
        days = days_from_civil(y, m, d);
    } else if (type_oid == CDC_PGOID_TIMESTAMP ||
               type_oid == CDC_PGOID_TIMESTAMPTZ) {
        if (!parse_datetime(s, len, type_oid == CDC_PGOID_TIMESTAMPTZ, &days,
                            &tod, &offset))
            return CDC_ERR_PARSE;
    } else {
        return CDC_ERR_INVALID_ARG;
    }
    if (__builtin_mul_overflow(days, USECS_PER_DAY, &usec) ||
        __builtin_add_overflow(usec, tod - offset * USECS_PER_SEC, &usec))
        return CDC_ERR_PARSE;
    *out = usec;
    return CDC_OK;
}

static cdc_err_t render_date(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (span_eq(s, len, "infinity"))
        return cdc_jsonw_int(w, INT32_MAX);
    if (span_eq(s, len, "-infinity"))
        return cdc_jsonw_int(w, INT32_MIN);

    const char *p = s, *end = s + len;
    int64_t y;
    int m, d;
    bool bc;
    if (!parse_ymd(&p, end, &y, &m, &d) || !parse_era_end(&p, end, &bc) ||
        !fix_date(&y, m, d, bc))
        return CDC_ERR_PARSE;
    return cdc_jsonw_int(w, days_from_civil(y, m, d));
}

static cdc_err_t render_time(cdc_jsonw_t *w, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    int64_t usec;
    if (!parse_hms(&p, end, true, &usec) || p != end)
        return CDC_ERR_PARSE;
    return cdc_jsonw_int(w, usec);
}

static cdc_err_t render_timetz(cdc_jsonw_t *w, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    int64_t usec, offset;
    if (!parse_hms(&p, end, true, &usec) || !parse_offset(&p, end, &offset) ||
        p != end)
        return CDC_ERR_PARSE;
    usec -= offset * USECS_PER_SEC;
    usec -= floor_div(usec, USECS_PER_DAY) * USECS_PER_DAY;

    char o[32];
    size_t n = fmt_time(o, usec);
    o[n++] = 'Z';
    return put_plain_string(w, o, n);
}

/* ---- numbers, bool, bytea ----------------------------------------------- */

static bool is_special_float(const char *s, size_t len)
{
    return span_eq(s, len, "NaN") || span_eq(s, len, "Infinity") ||
           span_eq(s, len, "-Infinity");
}

/* Decimal integer text within [min, max], copied as a JSON number. */
static cdc_err_t render_int(cdc_jsonw_t *w, const char *s, size_t len,
                            int64_t min, uint64_t max)
{
    bool neg = len && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == len || (len - i > 1 && s[i] == '0'))
        return CDC_ERR_PARSE;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return CDC_ERR_PARSE;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CDC_ERR_PARSE;
        v = v * 10 + d;
    }
    /* -(min + 1) + 1 is |min| without overflowing for INT64_MIN. */
    if (neg ? (min >= 0 || v > (uint64_t)(-(min + 1)) + 1) : v > max)
        return CDC_ERR_PARSE;
    return cdc_jsonw_number(w, s, len);
}

static cdc_err_t render_float(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (is_special_float(s, len))
        return put_plain_string(w, s, len);
    if (!cdc_jsonw_number_valid(s, len))
        return CDC_ERR_PARSE;
    return cdc_jsonw_number(w, s, len);
}

static cdc_err_t render_numeric(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (!is_special_float(s, len)) {
        size_t i = (len && s[0] == '-') ? 1 : 0, digits = 0;
        while (i < len && is_digit(s[i])) {
            i++;
            digits++;
        }
        if (digits == 0)
            return CDC_ERR_PARSE;
        if (i < len && s[i] == '.') {
            size_t start = ++i;
            while (i < len && is_digit(s[i]))
                i++;
            if (i == start)
                return CDC_ERR_PARSE;
        }
        if (i != len)
            return CDC_ERR_PARSE;
    }
    return put_plain_string(w, s, len);
}

static cdc_err_t render_bool(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (span_eq(s, len, "t") || span_eq(s, len, "true"))
        return cdc_jsonw_bool(w, true);
    if (span_eq(s, len, "f") || span_eq(s, len, "false"))
        return cdc_jsonw_bool(w, false);
    return CDC_ERR_PARSE;
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Hex digits (after "\x") -> quoted standard base64 with padding, which is
 * how Jackson writes the byte[] JsonConverter hands it.
 */
static cdc_err_t render_bytea_hex(cdc_jsonw_t *w, const char *hex, size_t len)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len % 2)
        return CDC_ERR_PARSE;
    size_t nbytes = len / 2;
    size_t out = (nbytes + 2) / 3 * 4;
    char *o = cdc_jsonw_raw(w, out + 2);
    if (!o)
        return CDC_ERR_NOMEM;
    *o++ = '"';
    const unsigned char *h = (const unsigned char *)hex;
    for (size_t i = 0; i < nbytes; i += 3) {
        unsigned v[3] = {0, 0, 0};
        size_t k = nbytes - i < 3 ? nbytes - i : 3;
        for (size_t j = 0; j < k; j++) {
            int hi = hex_val(h[2 * (i + j)]), lo = hex_val(h[2 * (i + j) + 1]);
            if (hi < 0 || lo < 0)
                return CDC_ERR_PARSE; /* caller discards the partial bytes */
            v[j] = (unsigned)(hi << 4 | lo);
        }
        unsigned triple = v[0] << 16 | v[1] << 8 | v[2];
        o[0] = b64[triple >> 18 & 63];
        o[1] = b64[triple >> 12 & 63];
        o[2] = k > 1 ? b64[triple >> 6 & 63] : '=';
        o[3] = k > 2 ? b64[triple & 63] : '=';
        o += 4;
    }
    *o = '"';
    return CDC_OK;
}

static cdc_err_t render_bytea(cdc_jsonw_t *w, const char *s, size_t len)
{
    if (len < 2 || s[0] != '\\' || s[1] != 'x')
        return CDC_ERR_PARSE; /* only bytea_output=hex */
    return render_bytea_hex(w, s + 2, len - 2);
}

/* CDC_OK, CDC_ERR_NOMEM, or CDC_ERR_PARSE when s is not valid for k. */
static cdc_err_t render_scalar(cdc_jsonw_t *w, kind_t k, const char *s,
                               size_t len)
{
    switch (k) {
    case K_BOOL: return render_bool(w, s, len);
    case K_INT2: return render_int(w, s, len, INT16_MIN, INT16_MAX);
    case K_INT4: return render_int(w, s, len, INT32_MIN, INT32_MAX);
    case K_INT8: return render_int(w, s, len, INT64_MIN, INT64_MAX);
    case K_OID: return render_int(w, s, len, 0, UINT32_MAX);
    case K_FLOAT: return render_float(w, s, len);
    case K_NUMERIC: return render_numeric(w, s, len);
    case K_DATE: return render_date(w, s, len);
    case K_TIME: return render_time(w, s, len);
    case K_TIMESTAMP: return render_timestamp(w, s, len);
    case K_TIMESTAMPTZ: return render_timestamptz(w, s, len);
    case K_TIMETZ: return render_timetz(w, s, len);
    case K_BYTEA: return render_bytea(w, s, len);
    case K_STRING: break;
    }
    return cdc_jsonw_string(w, s, len);
}

/* ---- arrays ------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static void skip_space(const char **p, const char *end)
{
    while (*p < end && is_space(**p))
        (*p)++;
}

/* A quoted element's content (between the quotes) that contains escapes. */
static cdc_err_t render_escaped_elem(cdc_jsonw_t *w, kind_t k, const char *s,
                                     size_t len)
{
    const char *p = s, *end = s + len;
    cdc_err_t err;

    if (k == K_STRING) {
        /* Unescape while writing, in chunks split at the backslashes. */
        if ((err = cdc_jsonw_string_open(w)) != CDC_OK)
            return err;
        while (p < end) {
            const char *bs = memchr(p, '\\', (size_t)(end - p));
            const char *stop = bs ? bs : end;
            if ((err = cdc_jsonw_string_part(w, p, (size_t)(stop - p))) != CDC_OK)
                return err;
            if (!bs)
                break;
            /* The quote scanner guarantees a character after each '\'. */
            if ((err = cdc_jsonw_string_part(w, bs + 1, 1)) != CDC_OK)
                return err;
            p = bs + 2;
        }
        return cdc_jsonw_string_close(w);
    }
    if (k == K_BYTEA) {
        /* array_out writes a bytea element as "\\x0a0b..." */
        if (len < 3 || memcmp(s, "\\\\x", 3) != 0)
            return CDC_ERR_PARSE;
        return render_bytea_hex(w, s + 3, len - 3);
    }
    /* Other types never need escapes; accept short ones anyway. */
    char tmp[ELEM_SCRATCH];
    size_t n = 0;
    for (; p < end; p++) {
        if (*p == '\\')
            p++;
        if (n == sizeof(tmp))
            return CDC_ERR_PARSE;
        tmp[n++] = *p;
    }
    return render_scalar(w, k, tmp, n);
}

static bool is_null_literal(const char *s, size_t len)
{
    return len == 4 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'u' &&
           (s[2] | 0x20) == 'l' && (s[3] | 0x20) == 'l';
}

/* One "{...}" level at *pp; recursive for multi-dimensional arrays. */
static cdc_err_t render_array_level(cdc_jsonw_t *w, kind_t k, const char **pp,
                                    const char *end, int dim)
{
    const char *p = *pp;
    cdc_err_t err;

    if (dim > PG_ARRAY_MAX_DIM || p >= end || *p != '{')
        return CDC_ERR_PARSE;
    p++;
    if ((err = cdc_jsonw_array_begin(w)) != CDC_OK)
        return err;
    skip_space(&p, end);
    if (p < end && *p == '}') {
        *pp = p + 1;
        return cdc_jsonw_array_end(w);
    }
    for (;;) {
        skip_space(&p, end);
        if (p >= end)
            return CDC_ERR_PARSE;
        if (*p == '{') {
            err = render_array_level(w, k, &p, end, dim + 1);
        } else if (*p == '"') {
            const char *q = p + 1;
            bool escaped = false;
            while (q < end && *q != '"') {
                if (*q == '\\') {
                    escaped = true;
                    if (++q >= end)
                        return CDC_ERR_PARSE;
                }
                q++;
            }
            if (q >= end)
                return CDC_ERR_PARSE;
            size_t n = (size_t)(q - p - 1);
            err = escaped ? render_escaped_elem(w, k, p + 1, n)
                          : render_scalar(w, k, p + 1, n);
            p = q + 1;
        } else {
            const char *start = p;
            while (p < end && *p != ',' && *p != '}') {
                if (*p == '"' || *p == '\\' || *p == '{')
                    return CDC_ERR_PARSE;
                p++;
            }
            const char *stop = p;
            while (stop > start && is_space(stop[-1]))
                stop--;
            size_t n = (size_t)(stop - start);
            if (n == 0)
                return CDC_ERR_PARSE;
            err = is_null_literal(start, n) ? cdc_jsonw_null(w)
                                            : render_scalar(w, k, start, n);
        }
        if (err != CDC_OK)
            return err;
        skip_space(&p, end);
        if (p >= end)
            return CDC_ERR_PARSE;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != '}')
            return CDC_ERR_PARSE;
        *pp = p + 1;
        return cdc_jsonw_array_end(w);
    }
}

static cdc_err_t render_array(cdc_jsonw_t *w, kind_t k, const char *s,
                              size_t len)
{
    const char *p = s, *end = s + len;
    /* Arrays not starting at index 1 carry "[lo:hi]...=" in front. */
    if (p < end && *p == '[') {
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return CDC_ERR_PARSE;
        p = eq + 1;
    }
    skip_space(&p, end);
    cdc_err_t err = render_array_level(w, k, &p, end, 1);
    if (err != CDC_OK)
        return err;
    skip_space(&p, end);
    return p == end ? CDC_OK : CDC_ERR_PARSE;
}

/* ---- entry points ------------------------------------------------------- */

void cdc_pgtypes_quote_value(char *dst, size_t n, const char *val, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const size_t max = 64;
    size_t o = 0, i = 0;

    if (n == 0)
        return;
    while (i < len && i < max) {
        unsigned char c = (unsigned char)val[i];
        size_t k = 1;
        if (c < 0x20 || c == 0x7f) {
            if (o + 4 >= n)
                break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 0xF];
            i++;
            continue;
        }
        if (c >= 0xC0) /* a lead byte: keep its sequence whole */
            while (k < 4 && i + k < len &&
                   ((unsigned char)val[i + k] & 0xC0) == 0x80)
                k++;
        if (i + k > max || o + k >= n)
            break;
        memcpy(dst + o, val + i, k);
        o += k;
        i += k;
    }
    if (i < len && o + 3 < n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

cdc_err_t cdc_pgtypes_render(cdc_jsonw_t *w, uint32_t type_oid,
                             const char *val, size_t len, char *errstr,
                             size_t errstr_size)
{
    if (!val)
        return cdc_jsonw_null(w);

    uint32_t elem = cdc_pgtypes_array_elem(type_oid);
    cdc_err_t err = elem ? render_array(w, kind_of(elem), val, len)
                         : render_scalar(w, kind_of(type_oid), val, len);
    if (err == CDC_OK)
        return CDC_OK;

    const char *name = cdc_pgtypes_name(type_oid);
    if (err == CDC_ERR_PARSE) {
        char quoted[128];
        cdc_pgtypes_quote_value(quoted, sizeof(quoted), val, len);
        return cdc_err_set(errstr, errstr_size, CDC_ERR_ENCODE,
                           "invalid %s value \"%s\"", name ? name : "?",
                           quoted);
    }
    return cdc_err_set(errstr, errstr_size, err, "cannot render %s value: %s",
                       name ? name : "text", cdc_err_str(err));
}

cdc_pgtypes_connect_t cdc_pgtypes_connect_schema(uint32_t type_oid)
{
    cdc_pgtypes_connect_t s = {"string", NULL, 0};
    if (cdc_pgtypes_array_elem(type_oid)) {
        s.type = "array";
        return s;
    }
    switch (kind_of(type_oid)) {
    case K_BOOL: s.type = "boolean"; break;
    case K_INT2: s.type = "int16"; break;
    case K_INT4: s.type = "int32"; break;
    case K_INT8:
    case K_OID: s.type = "int64"; break;
    case K_FLOAT:
        s.type = type_oid == CDC_PGOID_FLOAT4 ? "float" : "double";
        break;
    case K_NUMERIC: break;
    case K_DATE:
        s.type = "int32";
        s.name = "io.debezium.time.Date";
        break;
    case K_TIME:
        s.type = "int64";
        s.name = "io.debezium.time.MicroTime";
        break;
    case K_TIMESTAMP:
        s.type = "int64";
        s.name = "io.debezium.time.MicroTimestamp";
        break;
    case K_TIMESTAMPTZ: s.name = "io.debezium.time.ZonedTimestamp"; break;
    case K_TIMETZ: s.name = "io.debezium.time.ZonedTime"; break;
    case K_BYTEA: s.type = "bytes"; break;
    case K_STRING:
        if (type_oid == CDC_PGOID_UUID)
            s.name = "io.debezium.data.Uuid";
        else if (type_oid == CDC_PGOID_JSON || type_oid == CDC_PGOID_JSONB)
            s.name = "io.debezium.data.Json";
        else if (type_oid == CDC_PGOID_XML)
            s.name = "io.debezium.data.Xml";
        break;
    }
    if (s.name)
        s.version = 1; /* every Debezium logical type above is at version 1 */
    return s;
}
