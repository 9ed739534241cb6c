/*
 * config.c - key table, connector-JSON loading, validation (see config.h).
 *
 * Values are kept as text (after ${env:} substitution) with their source;
 * INT and BOOL keys are also kept parsed. Every problem is reported with the
 * key, where it came from and what a valid value looks like, and loading goes
 * on so the user sees all problems at once.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "sink/kafka.h"

enum { T_STR, T_INT, T_BOOL, T_ENUM, T_LIST };
enum { KF_SECRET = 1, KF_REQUIRED_POLL = 2, KF_IGNORED = 4, KF_KAFKA = 8 };

typedef struct {
    const char *name;
    int type;
    const char *def;
    int64_t min, max;
    const char *choices;
    unsigned flags;
    const char *doc;
} key_def_t;

#define STR T_STR
#define INT T_INT
#define BOOL T_BOOL
#define ENUM T_ENUM
#define LIST T_LIST
static const key_def_t key_defs[CDC_KEY__COUNT] = {
#define CDC_KEY(id, name, type, def, min, max, choices, flags, doc) \
    {name, type, def, min, max, choices, flags, doc},
#include "config/keys.def"
#undef CDC_KEY
};
#undef STR
#undef INT
#undef BOOL
#undef ENUM
#undef LIST

/* Free-form key prefixes, kept as extras. */
static const char *const extra_prefixes[] = {"kafka.", "transforms."};

/* Transform classes implementing Kafka Connect's RegexRouter semantics. */
static const char *const router_classes[] = {
    "org.apache.kafka.connect.transforms.RegexRouter",
    "io.confluent.connect.cloud.transforms.TopicRegexRouter",
};
static const char json_converter[] = "org.apache.kafka.connect.json.JsonConverter";

typedef struct {
    char *key, *value, *source;
} extra_t;

struct cdc_config {
    char *value[CDC_KEY__COUNT];  /* NULL: default applies */
    char *source[CDC_KEY__COUNT];
    int64_t ival[CDC_KEY__COUNT];
    extra_t *extras;
    size_t nextras, cap_extras;
};

static void problem(cdc_buf_t *problems, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(cdc_buf_t *problems, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (problems) {
        cdc_buf_puts(problems, line);
        cdc_buf_putc(problems, '\n');
    }
}

const char *cdc_config_key_name(cdc_key_t key)
{
    return key < CDC_KEY__COUNT ? key_defs[key].name : "?";
}

static int key_lookup(const char *name)
{
    for (int i = 0; i < CDC_KEY__COUNT; i++)
        if (strcmp(key_defs[i].name, name) == 0)
            return i;
    return -1;
}

static bool has_extra_prefix(const char *key)
{
    for (size_t i = 0; i < sizeof extra_prefixes / sizeof *extra_prefixes; i++) {
        size_t l = strlen(extra_prefixes[i]);
        if (strncmp(key, extra_prefixes[i], l) == 0 && key[l])
            return true;
    }
    return false;
}

bool cdc_config_key_is_secret(const char *key)
{
    int k = key_lookup(key);
    if (k >= 0)
        return key_defs[k].flags & KF_SECRET;
    static const char *const words[] = {"password", "secret", "jaas", "token",
                                        "credentials"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasestr(key, words[i]))
            return true;
    return false;
}

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || isspace((unsigned char)*s))
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0)
        *out = true;
    else if (strcasecmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

/* The canonical spelling of s among "a|b|c", or NULL. */
static const char *enum_match(const char *choices, const char *s, char *out,
                              size_t n)
{
    const char *p = choices;
    size_t sl = strlen(s);
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == sl && strncasecmp(p, s, l) == 0 && l < n) {
            memcpy(out, p, l);
            out[l] = '\0';
            return out;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return NULL;
}

cdc_config_t *cdc_config_new(void)
{
    cdc_config_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        const key_def_t *d = &key_defs[i];
        if (d->def && d->type == T_INT)
            parse_int(d->def, &c->ival[i]);
        else if (d->def && d->type == T_BOOL) {
            bool b = false;
            parse_bool(d->def, &b);
            c->ival[i] = b;
        }
    }
    return c;
}

void cdc_config_destroy(cdc_config_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        cdc_wipe_free(c->value[i]);
        free(c->source[i]);
    }
    for (size_t i = 0; i < c->nextras; i++) {
        free(c->extras[i].key);
        cdc_wipe_free(c->extras[i].value);
        free(c->extras[i].source);
    }
    free(c->extras);
    free(c);
}

/* Levenshtein distance, for did-you-mean; keys are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *suggest_key(const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        size_t d = edit_distance(name, key_defs[i].name);
        if (d < best_d) {
            best_d = d;
            best = key_defs[i].name;
        }
    }
    size_t limit = strlen(name) / 4;
    if (limit < 2)
        limit = 2;
    return best_d <= limit ? best : NULL;
}

/*
 * Expand ${env:VAR} and ${env:VAR:-default} in value into out. Problems
 * name the key and source. Returns false on any unresolvable reference.
 */
static bool substitute_env(const char *key, const char *value,
                           const char *source, cdc_buf_t *out,
                           cdc_buf_t *problems)
{
    const char *p = value;
    bool ok = true;
    while (*p) {
        const char *open = strstr(p, "${");
        if (!open) {
            cdc_buf_puts(out, p);
            break;
        }
        cdc_buf_append(out, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close) {
            problem(problems,
                    "%s (%s): unterminated \"${\" in value; write ${env:VAR}",
                    key, source);
            return false;
        }
        if (strncmp(open, "${env:", 6) != 0) {
            problem(problems,
                    "%s (%s): unsupported reference \"%.*s\"; only ${env:VAR} "
                    "and ${env:VAR:-default} are supported",
                    key, source, (int)(close - open + 1), open);
            ok = false;
            p = close + 1;
            continue;
        }
        const char *name = open + 6;
        const char *dflt = NULL;
        size_t nlen = (size_t)(close - name);
        const char *sep = strstr(name, ":-");
        if (sep && sep < close) {
            nlen = (size_t)(sep - name);
            dflt = sep + 2;
        }
        char var[256];
        if (nlen == 0 || nlen >= sizeof var) {
            problem(problems, "%s (%s): bad environment variable name in "
                    "\"%.*s\"", key, source, (int)(close - open + 1), open);
            return false;
        }
        memcpy(var, name, nlen);
        var[nlen] = '\0';
        const char *env = getenv(var);
        if (env && *env)
            cdc_buf_puts(out, env);
        else if (dflt)
            cdc_buf_append(out, dflt, (size_t)(close - dflt));
        else {
            problem(problems,
                    "%s (%s): environment variable %s is not set; export it, "
                    "or write ${env:%s:-default}",
                    key, source, var, var);
            ok = false;
        }
        p = close + 1;
    }
    return ok;
}

static cdc_err_t add_extra(cdc_config_t *c, const char *key, const char *value,
                           const char *source)
{
    for (size_t i = 0; i < c->nextras; i++) {
        if (strcmp(c->extras[i].key, key) == 0) {
            char *v = strdup(value), *s = strdup(source);
            if (!v || !s) {
                free(v);
                free(s);
                return CDC_ERR_NOMEM;
            }
            cdc_wipe_free(c->extras[i].value);
            free(c->extras[i].source);
            c->extras[i].value = v;
            c->extras[i].source = s;
            return CDC_OK;
        }
    }
    if (c->nextras == c->cap_extras) {
        size_t cap = c->cap_extras ? c->cap_extras * 2 : 16;
        extra_t *e = realloc(c->extras, cap * sizeof *e);
        if (!e)
            return CDC_ERR_NOMEM;
        c->extras = e;
        c->cap_extras = cap;
    }
    extra_t *e = &c->extras[c->nextras];
    e->key = strdup(key);
    e->value = strdup(value);
    e->source = strdup(source);
    if (!e->key || !e->value || !e->source) {
        free(e->key);
        free(e->value);
        free(e->source);
        return CDC_ERR_NOMEM;
    }
    c->nextras++;
    return CDC_OK;
}

/* Check value against the key's type and store it; v is post-substitution. */
static cdc_err_t store_value(cdc_config_t *c, int k, const char *v,
                             const char *source, cdc_buf_t *problems)
{
    const key_def_t *d = &key_defs[k];
    char canon[64];
    const char *stored = v;

    switch (d->type) {
    case T_INT: {
        int64_t n;
        if (!parse_int(v, &n)) {
            problem(problems, "%s (%s): \"%s\" is not an integer; valid: "
                    "%lld..%lld", d->name, source, v, (long long)d->min,
                    (long long)d->max);
            return CDC_ERR_CONFIG;
        }
        if (n < d->min || n > d->max) {
            problem(problems, "%s (%s): %lld is out of range; valid: "
                    "%lld..%lld", d->name, source, (long long)n,
                    (long long)d->min, (long long)d->max);
            return CDC_ERR_CONFIG;
        }
        c->ival[k] = n;
        break;
    }
    case T_BOOL: {
        bool b;
        if (!parse_bool(v, &b)) {
            problem(problems, "%s (%s): \"%s\" is not a boolean; valid: "
                    "true or false", d->name, source, v);
            return CDC_ERR_CONFIG;
        }
        c->ival[k] = b;
        stored = b ? "true" : "false";
        break;
    }
    case T_ENUM:
        stored = enum_match(d->choices, v, canon, sizeof canon);
        if (!stored) {
            problem(problems, "%s (%s): \"%s\" is not valid; valid: %s",
                    d->name, source, v, d->choices);
            return CDC_ERR_CONFIG;
        }
        break;
    default:
        break;
    }

    char *nv = strdup(stored), *ns = strdup(source);
    if (!nv || !ns) {
        free(nv);
        free(ns);
        return CDC_ERR_NOMEM;
    }
    cdc_wipe_free(c->value[k]);
    free(c->source[k]);
    c->value[k] = nv;
    c->source[k] = ns;
    if (d->flags & KF_SECRET)
        cdc_log_add_secret(nv);
    if (d->flags & KF_IGNORED)
        cdc_log_info("config", "%s (%s) has no effect: %s", d->name, source,
                     d->doc);
    return CDC_OK;
}

cdc_err_t cdc_config_set(cdc_config_t *c, const char *key, const char *value,
                         const char *source, cdc_buf_t *problems)
{
    int k = key_lookup(key);
    bool extra = k < 0 && has_extra_prefix(key);
    if (k < 0 && !extra) {
        const char *hint = suggest_key(key);
        if (hint)
            problem(problems, "%s (%s): unknown key; did you mean %s?", key,
                    source, hint);
        else
            problem(problems, "%s (%s): unknown key; see docs/config.md or "
                    "dsqlcdc --help for the keys", key, source);
        return CDC_ERR_CONFIG;
    }

    cdc_buf_t v;
    cdc_buf_init(&v);
    cdc_err_t err = CDC_OK;
    if (!substitute_env(key, value, source, &v, problems)) {
        err = CDC_ERR_CONFIG;
        goto out;
    }
    const char *sv = cdc_buf_str(&v);
    if (extra) {
        if (cdc_config_key_is_secret(key))
            cdc_log_add_secret(sv);
        err = add_extra(c, key, sv, source);
    } else if (*sv == '\0') {
        /* An empty value (often an unset optional ${env:}) means "unset". */
        cdc_wipe_free(c->value[k]);
        c->value[k] = NULL;
        free(c->source[k]);
        c->source[k] = strdup(source);
    } else {
        err = store_value(c, k, sv, source, problems);
    }
out:
    cdc_buf_wipe(&v);
    return err;
}

/* 1-based line of "key": in text, or 0 when not found. */
static int find_line(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; (p = strchr(p, '"')) != NULL; p++) {
        if (strncmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
            const char *q = p + kl + 2;
            while (isspace((unsigned char)*q))
                q++;
            if (*q == ':') {
                int line = 1;
                for (const char *s = text; s < p; s++)
                    line += *s == '\n';
                return line;
            }
        }
    }
    return 0;
}

cdc_err_t cdc_config_load_string(cdc_config_t *c, const char *text,
                                 const char *source, cdc_buf_t *problems)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        problem(problems, "%s:%d:%d: not valid JSON: %s", source, jerr.line,
                jerr.column, jerr.text);
        return CDC_ERR_CONFIG;
    }
    cdc_err_t result = CDC_OK;
    json_t *map = root;
    if (!json_is_object(root)) {
        problem(problems, "%s: expected a JSON object: a connector "
                "{\"name\": ..., \"config\": {...}} or a map of keys", source);
        result = CDC_ERR_CONFIG;
        goto out;
    }
    json_t *inner = json_object_get(root, "config");
    if (json_is_object(inner)) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            if (strcmp(k, "config") == 0)
                continue;
            if (strcmp(k, "name") == 0 && json_is_string(v)) {
                /* config.name, if present, wins: it is the inner map's. */
                if (!json_object_get(inner, "name"))
                    cdc_config_set(c, "name", json_string_value(v), source,
                                   problems);
                continue;
            }
            if (strcmp(k, "tasks") == 0 || strcmp(k, "type") == 0)
                continue; /* present in GET /connectors/<name> output */
            problem(problems, "%s:%d: unexpected top-level key \"%s\"; a "
                    "connector file has \"name\" and \"config\"", source,
                    find_line(text, k), k);
            result = CDC_ERR_CONFIG;
        }
        map = inner;
    }

    const char *key;
    json_t *val;
    json_object_foreach(map, key, val) {
        char where[512];
        snprintf(where, sizeof where, "%s:%d", source, find_line(text, key));
        char num[64];
        const char *s;
        if (json_is_string(val))
            s = json_string_value(val);
        else if (json_is_integer(val)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(val));
            s = num;
        } else if (json_is_true(val))
            s = "true";
        else if (json_is_false(val))
            s = "false";
        else if (json_is_null(val))
            continue;
        else {
            problem(problems, "%s (%s): expected a string value", key, where);
            result = CDC_ERR_CONFIG;
            continue;
        }
        if (cdc_config_set(c, key, s, where, problems) != CDC_OK)
            result = CDC_ERR_CONFIG;
    }
out:
    json_decref(root);
    return result;
}

cdc_err_t cdc_config_load_file(cdc_config_t *c, const char *path,
                               cdc_buf_t *problems)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        problem(problems, "%s: cannot open config file: %s", path,
                strerror(errno));
        return CDC_ERR_CONFIG;
    }
    cdc_buf_t text;
    cdc_buf_init(&text);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cdc_buf_append(&text, chunk, n);
    bool read_err = ferror(f);
    fclose(f);
    cdc_err_t err;
    if (read_err) {
        problem(problems, "%s: read error", path);
        err = CDC_ERR_CONFIG;
    } else {
        err = cdc_config_load_string(c, cdc_buf_str(&text), path, problems);
    }
    cdc_buf_wipe(&text);
    return err;
}

const char *cdc_config_str(const cdc_config_t *c, cdc_key_t key)
{
    if (c->value[key])
        return c->value[key];
    return c->source[key] ? NULL : key_defs[key].def;
}

int64_t cdc_config_int(const cdc_config_t *c, cdc_key_t key)
{
    if (key_defs[key].type != T_INT)
        abort();
    return c->ival[key];
}

bool cdc_config_bool(const cdc_config_t *c, cdc_key_t key)
{
    if (key_defs[key].type != T_BOOL)
        abort();
    return c->ival[key] != 0;
}

bool cdc_config_is_set(const cdc_config_t *c, cdc_key_t key)
{
    return c->value[key] != NULL;
}

const char *cdc_config_source(const cdc_config_t *c, cdc_key_t key)
{
    return c->value[key] ? c->source[key] : "default";
}

void cdc_config_list_each(const cdc_config_t *c, cdc_key_t key,
                          void (*fn)(const char *item, void *ctx), void *ctx)
{
    const char *s = cdc_config_str(c, key);
    if (!s)
        return;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t l = comma ? (size_t)(comma - s) : strlen(s);
        const char *b = s, *e = s + l;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (e > b) {
            char item[512];
            size_t il = (size_t)(e - b) < sizeof item - 1 ? (size_t)(e - b)
                                                          : sizeof item - 1;
            memcpy(item, b, il);
            item[il] = '\0';
            fn(item, ctx);
        }
        if (!comma)
            break;
        s = comma + 1;
    }
}

static void count_item(const char *item, void *ctx)
{
    (void)item;
    (*(size_t *)ctx)++;
}

size_t cdc_config_list_count(const cdc_config_t *c, cdc_key_t key)
{
    size_t n = 0;
    cdc_config_list_each(c, key, count_item, &n);
    return n;
}

size_t cdc_config_extras_each(const cdc_config_t *c, const char *prefix,
                              void (*fn)(const char *key, const char *value,
                                         void *ctx),
                              void *ctx)
{
    size_t pl = strlen(prefix), n = 0;
    if (strcmp(prefix, "kafka.") == 0) {
        for (int i = 0; i < CDC_KEY__COUNT; i++) {
            const char *v = cdc_config_str(c, i);
            if ((key_defs[i].flags & KF_KAFKA) && v) {
                if (fn)
                    fn(key_defs[i].name, v, ctx);
                n++;
            }
        }
    }
    for (size_t i = 0; i < c->nextras; i++) {
        if (strncmp(c->extras[i].key, prefix, pl) == 0) {
            if (fn)
                fn(c->extras[i].key, c->extras[i].value, ctx);
            n++;
        }
    }
    return n;
}

const char *cdc_config_extra(const cdc_config_t *c, const char *key)
{
    for (size_t i = 0; i < c->nextras; i++)
        if (strcmp(c->extras[i].key, key) == 0)
            return c->extras[i].value;
    return NULL;
}

/* --- cross-key validation ------------------------------------------------ */

typedef struct {
    const cdc_config_t *c;
    cdc_buf_t *problems;
    int bad;
} vctx_t;

static bool valid_ident(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '$' ||
              (unsigned char)s[i] >= 0x80))
            return false;
    return true;
}

static void check_table(const char *item, void *ctx)
{
    vctx_t *v = ctx;
    const char *dot = strchr(item, '.');
    bool ok = dot ? valid_ident(item, (size_t)(dot - item)) &&
                        valid_ident(dot + 1, strlen(dot + 1))
                  : valid_ident(item, strlen(item));
    if (!ok) {
        problem(v->problems, "dsql.tables (%s): \"%s\" is not a table name; "
                "write table or schema.table (letters, digits, _)",
                cdc_config_source(v->c, CDC_KEY_TABLES), item);
        v->bad++;
    }
}

static void check_transform(const char *alias, void *ctx)
{
    vctx_t *v = ctx;
    char key[600];
    snprintf(key, sizeof key, "transforms.%s.type", alias);
    const char *type = cdc_config_extra(v->c, key);
    if (!type) {
        problem(v->problems, "%s: not set; transform \"%s\" is listed in "
                "transforms and needs a type (%s)", key, alias,
                router_classes[0]);
        v->bad++;
        return;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof router_classes / sizeof *router_classes; i++)
        known |= strcmp(type, router_classes[i]) == 0;
    if (!known) {
        problem(v->problems, "%s: unsupported transform \"%s\"; supported: "
                "%s, %s", key, type, router_classes[0], router_classes[1]);
        v->bad++;
        return;
    }
    snprintf(key, sizeof key, "transforms.%s.regex", alias);
    const char *re = cdc_config_extra(v->c, key);
    if (!re) {
        problem(v->problems, "%s: not set; RegexRouter needs a regex that "
                "matches whole topic names", key);
        v->bad++;
    } else {
        regex_t rx;
        int rc = regcomp(&rx, re, REG_EXTENDED);
        if (rc != 0) {
            char msg[200];
            regerror(rc, &rx, msg, sizeof msg);
            problem(v->problems, "%s: \"%s\" is not a valid regular "
                    "expression: %s", key, re, msg);
            v->bad++;
        } else {
            regfree(&rx);
        }
    }
    snprintf(key, sizeof key, "transforms.%s.replacement", alias);
    if (!cdc_config_extra(v->c, key)) {
        problem(v->problems, "%s: not set; RegexRouter needs the replacement "
                "topic name ($1 refers to a group)", key);
        v->bad++;
    }
}

/* transforms.<alias>.* keys whose alias is not listed in transforms. */
static void check_transform_key(const char *key, const char *value, void *ctx)
{
    (void)value;
    vctx_t *v = ctx;
    const char *alias = key + strlen("transforms.");
    const char *dot = strchr(alias, '.');
    if (!dot) {
        problem(v->problems, "%s: unknown key; transform settings are "
                "transforms.<alias>.<setting>", key);
        v->bad++;
        return;
    }
    const char *list = cdc_config_str(v->c, CDC_KEY_TRANSFORMS);
    size_t al = (size_t)(dot - alias);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t l = strcspn(p, ", ");
        if (l == al && strncmp(p, alias, al) == 0)
            return;
        p += l;
    }
    problem(v->problems, "%s: transform \"%.*s\" is not listed in transforms",
            key, (int)al, alias);
    v->bad++;
}

cdc_err_t cdc_config_validate(const cdc_config_t *c, cdc_buf_t *problems)
{
    vctx_t v = {c, problems, 0};
    bool stream = strcmp(cdc_config_str(c, CDC_KEY_SOURCE_MODE), "stream") == 0;
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        if ((key_defs[i].flags & KF_REQUIRED_POLL) && !stream &&
            !cdc_config_str(c, i)) {
            problem(problems, "%s: required, not set (%s)", key_defs[i].name,
                    key_defs[i].doc);
            v.bad++;
        }
    }
    cdc_config_list_each(c, CDC_KEY_TABLES, check_table, &v);
    if (cdc_config_str(c, CDC_KEY_TABLES) &&
        cdc_config_list_count(c, CDC_KEY_TABLES) == 0) {
        problem(problems, "dsql.tables (%s): no table named; list at least "
                "one, e.g. \"event_headers\"", cdc_config_source(c, CDC_KEY_TABLES));
        v.bad++;
    }

    if (stream && !cdc_config_str(c, CDC_KEY_STREAM_ARN) &&
        !cdc_config_str(c, CDC_KEY_STREAM_NAME)) {
        problem(problems, "stream.kinesis.stream.arn: required with "
                "source.mode=stream (or stream.kinesis.stream.name)");
        v.bad++;
    }
    if (strcmp(cdc_config_str(c, CDC_KEY_STREAM_START_POSITION),
               "at_timestamp") == 0 &&
        !cdc_config_str(c, CDC_KEY_STREAM_START_TIMESTAMP)) {
        problem(problems, "stream.start.timestamp: required with "
                "stream.start.position=at_timestamp");
        v.bad++;
    }
    const char *sink = cdc_config_str(c, CDC_KEY_SINK_TYPE);
    if (strcmp(sink, "file") == 0 && !cdc_config_str(c, CDC_KEY_SINK_FILE_PATH)) {
        problem(problems, "sink.file.path: required when sink.type=file");
        v.bad++;
    }
    if (cdc_config_int(c, CDC_KEY_POOL_MIN_IDLE) >
        cdc_config_int(c, CDC_KEY_POOL_MAX_SIZE)) {
        problem(problems, "dsql.pool.min.idle (%s): %lld is more than "
                "dsql.pool.max.size (%lld)",
                cdc_config_source(c, CDC_KEY_POOL_MIN_IDLE),
                (long long)cdc_config_int(c, CDC_KEY_POOL_MIN_IDLE),
                (long long)cdc_config_int(c, CDC_KEY_POOL_MAX_SIZE));
        v.bad++;
    }
    static const cdc_key_t converters[] = {CDC_KEY_KEY_CONVERTER,
                                           CDC_KEY_VALUE_CONVERTER};
    for (size_t i = 0; i < 2; i++) {
        const char *conv = cdc_config_str(c, converters[i]);
        if (conv && strcmp(conv, json_converter) != 0) {
            problem(problems, "%s (%s): \"%s\" is not supported; use %s",
                    key_defs[converters[i]].name,
                    cdc_config_source(c, converters[i]), conv, json_converter);
            v.bad++;
        }
    }
    if (cdc_config_bool(c, CDC_KEY_VALUE_CONVERTER_SCHEMAS_ENABLE) &&
        strcmp(cdc_config_str(c, CDC_KEY_RECORD_FORMAT), "flat") == 0) {
        problem(problems, "value.converter.schemas.enable (%s): true needs "
                "record.format=debezium; the flat format is schemaless JSON",
                cdc_config_source(c, CDC_KEY_VALUE_CONVERTER_SCHEMAS_ENABLE));
        v.bad++;
    }
    const char *listen = cdc_config_str(c, CDC_KEY_REST_LISTEN);
    if (listen) {
        const char *colon = strrchr(listen, ':');
        int64_t port;
        if (!colon || colon == listen || !parse_int(colon + 1, &port) ||
            port < 0 || port > 65535) {
            problem(problems, "rest.listen (%s): \"%s\" is not host:port, "
                    "e.g. 127.0.0.1:8083", cdc_config_source(c, CDC_KEY_REST_LISTEN),
                    listen);
            v.bad++;
        }
    }
    cdc_config_list_each(c, CDC_KEY_TRANSFORMS, check_transform, &v);
    cdc_config_extras_each(c, "transforms.", check_transform_key, &v);
    return v.bad ? CDC_ERR_CONFIG : CDC_OK;
}

/* --- output ------------------------------------------------------------ */

static void print_extra(const char *key, const char *value, void *ctx)
{
    fprintf((FILE *)ctx, "  %s = %s\n", key,
            cdc_config_key_is_secret(key) ? "********" : value);
}

void cdc_config_print(const cdc_config_t *c, FILE *out)
{
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        const char *v = cdc_config_str(c, i);
        if (!v)
            continue;
        fprintf(out, "  %s = %s%s%s\n", key_defs[i].name,
                (key_defs[i].flags & KF_SECRET) ? "********" : v,
                cdc_config_is_set(c, i) ? "" : "  (default)",
                (key_defs[i].flags & KF_IGNORED) ? "  (no effect)" : "");
    }
    for (size_t i = 0; i < c->nextras; i++)
        print_extra(c->extras[i].key, c->extras[i].value, out);
}

json_t *cdc_config_to_json(const cdc_config_t *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        if (!cdc_config_is_set(c, i))
            continue;
        json_object_set_new(o, key_defs[i].name,
                            json_string((key_defs[i].flags & KF_SECRET)
                                            ? "********" : c->value[i]));
    }
    for (size_t i = 0; i < c->nextras; i++)
        json_object_set_new(o, c->extras[i].key,
                            json_string(cdc_config_key_is_secret(c->extras[i].key)
                                            ? "********" : c->extras[i].value));
    return o;
}

static const char *type_name(int t)
{
    switch (t) {
    case T_INT: return "integer";
    case T_BOOL: return "boolean";
    case T_ENUM: return "enum";
    case T_LIST: return "list";
    default: return "string";
    }
}

void cdc_config_write_reference(FILE *out)
{
    fputs("# Configuration reference\n\n"
          "Generated by `dsqlcdc config-reference` from the key table "
          "(src/config/keys.def); do not edit by hand.\n\n"
          "A config file is a Kafka Connect connector JSON, "
          "`{\"name\": ..., \"config\": {...}}`, or the bare `config` map. "
          "Values are strings (numbers and booleans are accepted too). Any "
          "value may use `${env:VAR}` or `${env:VAR:-default}`. Unknown keys "
          "are errors.\n\n"
          "Besides the keys below, every `kafka.<setting>` is passed to "
          "librdkafka as `<setting>` (see librdkafka's CONFIGURATION.md), "
          "and `transforms.<alias>.type|regex|replacement` configure the "
          "topic routers listed in `transforms` "
          "(`org.apache.kafka.connect.transforms.RegexRouter` or "
          "`io.confluent.connect.cloud.transforms.TopicRegexRouter`).\n\n"
          "librdkafka settings dsqlcdc makes unless a `kafka.*` key does:",
          out);
    for (size_t i = 0; i < cdc_kafka_ndefaults; i++)
        fprintf(out, "%s `%s=%s`", i ? "," : "", cdc_kafka_defaults[i][0],
                cdc_kafka_defaults[i][1]);
    fputs(". Records are not compressed unless `kafka.compression.type` is "
          "set (`lz4`, `zstd`, ...), as with Kafka Connect's producer.\n\n"
          "| Key | Type | Default | Valid values | Description |\n"
          "|---|---|---|---|---|\n", out);
    for (int i = 0; i < CDC_KEY__COUNT; i++) {
        const key_def_t *d = &key_defs[i];
        char valid[128] = "";
        if (d->type == T_INT)
            snprintf(valid, sizeof valid, "%lld..%lld", (long long)d->min,
                     (long long)d->max);
        else if (d->type == T_ENUM)
            snprintf(valid, sizeof valid, "%s", d->choices);
        else if (d->type == T_BOOL)
            snprintf(valid, sizeof valid, "true|false");
        for (char *p = valid; *p; p++)
            if (*p == '|')
                *p = ',';
        fprintf(out, "| `%s` | %s | %s%s%s | %s | %s%s%s", d->name,
                type_name(d->type), d->def ? "`" : "", d->def ? d->def : "",
                d->def ? "`" : "", valid,
                (d->flags & KF_REQUIRED_POLL) ? "**Required** (source.mode=poll). " : "",
                (d->flags & KF_SECRET) ? "Secret: never printed. " : "",
                (d->flags & KF_IGNORED) ? "No effect. " : "");
        /* Markdown would take <schema> for an HTML tag. */
        for (const char *p = d->doc; *p; p++) {
            if (*p == '<')
                fputs("&lt;", out);
            else if (*p == '>')
                fputs("&gt;", out);
            else
                fputc(*p, out);
        }
        fputs(" |\n", out);
    }
}
