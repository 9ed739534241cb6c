/*
 * ini.c - reader for the AWS shared config and credentials files.
 *
 * The files are small (a few profiles), so entries sit in one array and
 * lookups scan it from the end, which also makes the last duplicate win.
 */
#include "auth/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INI_MAX_FILE (1024 * 1024)

typedef struct {
    char *section;
    char *key;   /* NULL: entry only records that the section exists */
    char *value;
} ini_entry_t;

struct cdc_ini {
    ini_entry_t *entries;
    size_t n;
    size_t cap;
};

static char *ini_strndup_trim(const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    return strndup(s, len);
}

/* Trim and collapse runs of blanks into one space. */
static char *ini_section_name(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    int pending_space = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)s[i])) {
            pending_space = o > 0;
            continue;
        }
        if (pending_space)
            out[o++] = ' ';
        pending_space = 0;
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

static cdc_err_t ini_add(cdc_ini_t *ini, const char *section, char *key,
                         char *value)
{
    if (ini->n == ini->cap) {
        size_t cap = ini->cap ? ini->cap * 2 : 16;
        ini_entry_t *e = realloc(ini->entries, cap * sizeof(*e));
        if (!e)
            return CDC_ERR_NOMEM;
        ini->entries = e;
        ini->cap = cap;
    }
    char *sec = strdup(section);
    if (!sec)
        return CDC_ERR_NOMEM;
    ini->entries[ini->n].section = sec;
    ini->entries[ini->n].key = key;
    ini->entries[ini->n].value = value;
    ini->n++;
    return CDC_OK;
}

static void ini_free_str(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void cdc_ini_destroy(cdc_ini_t *ini)
{
    if (!ini)
        return;
    for (size_t i = 0; i < ini->n; i++) {
        free(ini->entries[i].section);
        free(ini->entries[i].key);
        ini_free_str(ini->entries[i].value);
    }
    free(ini->entries);
    free(ini);
}

cdc_err_t cdc_ini_parse(const char *text, size_t len, const char *name,
                        cdc_ini_t **out, char *errstr, size_t errstr_size)
{
    cdc_ini_t *ini = calloc(1, sizeof(*ini));
    char *section = NULL;
    /* Indented lines after a setting continue it: a sub-property block
     * after "s3 =", or a multi-line value. No setting we read uses either. */
    int after_key = 0;
    size_t lineno = 0;
    const char *p = text, *end = text + len;
    cdc_err_t err = CDC_OK;

    *out = NULL;
    if (!ini)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM, "out of memory");

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line = p;
        size_t llen = eol ? (size_t)(eol - p) : (size_t)(end - p);
        p = eol ? eol + 1 : end;
        lineno++;

        if (llen && line[llen - 1] == '\r')
            llen--;
        int indented = llen && (line[0] == ' ' || line[0] == '\t');
        while (llen && isspace((unsigned char)*line)) {
            line++;
            llen--;
        }
        if (llen == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (indented && after_key)
            continue;

        if (line[0] == '[') {
            const char *close = memchr(line, ']', llen);
            if (!close) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                                  "%s:%zu: section header without ']'",
                                  name, lineno);
                goto out;
            }
            /* Anything after ']' must be blank or a comment. */
            for (const char *q = close + 1; q < line + llen; q++) {
                if (*q == '#' || *q == ';')
                    break;
                if (!isspace((unsigned char)*q)) {
                    err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                                      "%s:%zu: text after section header",
                                      name, lineno);
                    goto out;
                }
            }
            after_key = 0;
            free(section);
            section = ini_section_name(line + 1, (size_t)(close - line - 1));
            if (!section || (err = ini_add(ini, section, NULL, NULL)) != CDC_OK) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                                  "out of memory");
                goto out;
            }
            continue;
        }

        const char *eq = memchr(line, '=', llen);
        if (!eq || eq == line) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                              "%s:%zu: expected \"[section]\" or "
                              "\"key = value\"", name, lineno);
            goto out;
        }
        if (!section) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                              "%s:%zu: setting before any [section]",
                              name, lineno);
            goto out;
        }
        char *key = ini_strndup_trim(line, (size_t)(eq - line));
        char *value = ini_strndup_trim(eq + 1,
                                       (size_t)(line + llen - eq - 1));
        if (!key || !value || ini_add(ini, section, key, value) != CDC_OK) {
            free(key);
            ini_free_str(value);
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                              "out of memory");
            goto out;
        }
        after_key = 1;
    }

out:
    free(section);
    if (err != CDC_OK) {
        cdc_ini_destroy(ini);
        return err;
    }
    *out = ini;
    return CDC_OK;
}

cdc_err_t cdc_ini_load(const char *path, cdc_ini_t **out,
                       char *errstr, size_t errstr_size)
{
    FILE *f;
    char *text = NULL;
    size_t len = 0, cap = 0;
    cdc_err_t err;

    *out = NULL;
    f = fopen(path, "r");
    if (!f) {
        int e = errno;
        return cdc_err_set(errstr, errstr_size,
                           e == ENOENT ? CDC_ERR_NOT_FOUND : CDC_ERR_IO,
                           "%s: %s", path, strerror(e));
    }
    for (;;) {
        if (len == cap) {
            if (cap >= INI_MAX_FILE) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                                  "%s: larger than %d bytes", path,
                                  INI_MAX_FILE);
                goto out;
            }
            cap = cap ? cap * 2 : 4096;
            char *t = realloc(text, cap);
            if (!t) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                                  "out of memory");
                goto out;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_IO, "%s: read error",
                          path);
        goto out;
    }
    err = cdc_ini_parse(text ? text : "", len, path, out, errstr, errstr_size);

out:
    if (text) {
        explicit_bzero(text, cap);
        free(text);
    }
    fclose(f);
    return err;
}

bool cdc_ini_has_section(const cdc_ini_t *ini, const char *section)
{
    if (!ini)
        return false;
    for (size_t i = 0; i < ini->n; i++)
        if (strcmp(ini->entries[i].section, section) == 0)
            return true;
    return false;
}

const char *cdc_ini_get(const cdc_ini_t *ini, const char *section,
                        const char *key)
{
    if (!ini)
        return NULL;
    for (size_t i = ini->n; i-- > 0;) {
        const ini_entry_t *e = &ini->entries[i];
        if (e->key && strcmp(e->section, section) == 0 &&
            strcasecmp(e->key, key) == 0)
            return e->value;
    }
    return NULL;
}
