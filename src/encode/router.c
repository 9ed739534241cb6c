/*
 * router.c - RegexRouter (see router.h).
 */
#include "encode/router.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    regex_t re;
    char *replacement;
} route_t;

struct cdc_router {
    route_t *routes;
    size_t n;
};

typedef struct {
    const cdc_config_t *c;
    cdc_router_t *r;
    char *errstr;
    size_t errstr_size;
    cdc_err_t err;
} build_t;

static void add_route(const char *alias, void *ctx)
{
    build_t *b = ctx;
    if (b->err != CDC_OK)
        return;
    char key[600];
    snprintf(key, sizeof key, "transforms.%s.regex", alias);
    const char *re = cdc_config_extra(b->c, key);
    snprintf(key, sizeof key, "transforms.%s.replacement", alias);
    const char *rep = cdc_config_extra(b->c, key);
    if (!re || !rep) {
        b->err = cdc_err_set(b->errstr, b->errstr_size, CDC_ERR_CONFIG,
                             "transform %s needs regex and replacement", alias);
        return;
    }
    route_t *rt = &b->r->routes[b->r->n];
    /* Anchor for whole-name matching; the outer group shifts $N by one. */
    size_t l = strlen(re) + 5;
    char *anchored = malloc(l);
    if (!anchored) {
        b->err = CDC_ERR_NOMEM;
        return;
    }
    snprintf(anchored, l, "^(%s)$", re);
    int rc = regcomp(&rt->re, anchored, REG_EXTENDED);
    free(anchored);
    if (rc != 0) {
        b->err = cdc_err_set(b->errstr, b->errstr_size, CDC_ERR_CONFIG,
                             "transforms.%s.regex does not compile", alias);
        return;
    }
    rt->replacement = strdup(rep);
    b->r->n++;
}

cdc_router_t *cdc_router_new(const cdc_config_t *c, char *errstr, size_t n)
{
    cdc_router_t *r = calloc(1, sizeof *r);
    size_t count = cdc_config_list_count(c, CDC_KEY_TRANSFORMS);
    if (!r || !(r->routes = calloc(count ? count : 1, sizeof *r->routes))) {
        free(r);
        cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    build_t b = {c, r, errstr, n, CDC_OK};
    cdc_config_list_each(c, CDC_KEY_TRANSFORMS, add_route, &b);
    if (b.err != CDC_OK) {
        cdc_router_destroy(r);
        return NULL;
    }
    return r;
}

void cdc_router_destroy(cdc_router_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        regfree(&r->routes[i].re);
        free(r->routes[i].replacement);
    }
    free(r->routes);
    free(r);
}

static cdc_err_t apply_one(const route_t *rt, const char *topic, cdc_buf_t *out)
{
    regmatch_t m[11];
    if (regexec(&rt->re, topic, 11, m, 0) != 0)
        return cdc_buf_puts(out, topic);
    for (const char *p = rt->replacement; *p; p++) {
        if (p[0] == '\\' && p[1]) {
            cdc_buf_putc(out, *++p);
        } else if (p[0] == '$' && p[1] >= '0' && p[1] <= '9') {
            int g = p[1] - '0' + 1; /* +1: our anchoring group */
            if (g <= 10 && m[g].rm_so >= 0)
                cdc_buf_append(out, topic + m[g].rm_so,
                               (size_t)(m[g].rm_eo - m[g].rm_so));
            p++;
        } else {
            cdc_buf_putc(out, *p);
        }
    }
    return out->data ? CDC_OK : cdc_buf_puts(out, "");
}

cdc_err_t cdc_router_apply(const cdc_router_t *r, const char *topic,
                           cdc_buf_t *out)
{
    cdc_buf_t cur;
    cdc_buf_init(&cur);
    cdc_err_t err = cdc_buf_puts(&cur, topic);
    for (size_t i = 0; err == CDC_OK && i < r->n; i++) {
        cdc_buf_t next;
        cdc_buf_init(&next);
        err = apply_one(&r->routes[i], cdc_buf_str(&cur), &next);
        cdc_buf_free(&cur);
        cur = next;
    }
    cdc_buf_reset(out);
    if (err == CDC_OK)
        err = cdc_buf_puts(out, cdc_buf_str(&cur));
    cdc_buf_free(&cur);
    return err;
}
