/*
 * shards.c - shard lineage (see shards.h).
 *
 * Shards are kept in an array sorted by id, so lookups are binary searches
 * and every answer comes out in the same order whatever order ListShards
 * used. Streams have at most a few thousand shards in retention, so an
 * update rebuilds the array instead of patching it in place.
 */
#include "source/shards.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *id;
    char *parent;   /* NULL when none */
    char *adjacent; /* NULL when none */
    char *start_seq;
    char *end_seq;  /* NULL while open */
    bool finished;
} shard_t;

struct cdc_shards {
    shard_t *v;
    size_t n;
};

const char *cdc_shard_state_name(cdc_shard_state_t st)
{
    switch (st) {
    case CDC_SHARD_UNKNOWN:  return "unknown";
    case CDC_SHARD_WAITING:  return "waiting";
    case CDC_SHARD_READABLE: return "readable";
    case CDC_SHARD_FINISHED: return "finished";
    }
    return "unknown";
}

cdc_shards_t *cdc_shards_new(void)
{
    return calloc(1, sizeof(cdc_shards_t));
}

static void shard_free(shard_t *sh)
{
    free(sh->id);
    free(sh->parent);
    free(sh->adjacent);
    free(sh->start_seq);
    free(sh->end_seq);
}

static void shards_free_array(shard_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        shard_free(&v[i]);
    free(v);
}

void cdc_shards_destroy(cdc_shards_t *s)
{
    if (!s)
        return;
    shards_free_array(s->v, s->n);
    free(s);
}

/* Index of id in the sorted array, or -1. */
static long shards_find(const shard_t *v, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static const shard_t *shards_get(const cdc_shards_t *s, const char *id)
{
    long i;

    if (!s || !id)
        return NULL;
    i = shards_find(s->v, s->n, id);
    return i < 0 ? NULL : &s->v[i];
}

/* strdup for optional strings: NULL and "" both mean absent. */
static bool dup_opt(const char *src, char **dst)
{
    *dst = NULL;
    if (!src || !*src)
        return true;
    *dst = strdup(src);
    return *dst != NULL;
}

static int shard_cmp(const void *a, const void *b)
{
    return strcmp(((const shard_t *)a)->id, ((const shard_t *)b)->id);
}

cdc_err_t cdc_shards_update(cdc_shards_t *s, const cdc_shard_desc_t *list,
                            size_t n, bool complete, char *errstr,
                            size_t errstr_size)
{
    shard_t *nv = NULL;
    size_t nn = 0, cap;
    cdc_err_t err = CDC_OK;

    if (!s || (n && !list))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "shard list missing");
    for (size_t i = 0; i < n; i++)
        if (!list[i].shard_id || !*list[i].shard_id)
            return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                               "shard %zu of the list has no ShardId", i);

    cap = n + (complete ? 0 : s->n);
    nv = calloc(cap ? cap : 1, sizeof *nv);
    if (!nv)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                           "out of memory");

    for (size_t i = 0; i < n; i++) {
        shard_t *sh = &nv[nn];
        const shard_t *old = shards_get(s, list[i].shard_id);
        sh->id = strdup(list[i].shard_id);
        nn++;
        if (!sh->id || !dup_opt(list[i].parent_shard_id, &sh->parent) ||
            !dup_opt(list[i].adjacent_parent_shard_id, &sh->adjacent) ||
            !dup_opt(list[i].starting_sequence_number, &sh->start_seq) ||
            !dup_opt(list[i].ending_sequence_number, &sh->end_seq)) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                              "out of memory");
            goto out;
        }
        if (old) {
            sh->finished = old->finished;
            /* A closed shard never reopens: keep its end when a stale
             * list still shows it open. */
            if (!sh->end_seq && old->end_seq &&
                !(sh->end_seq = strdup(old->end_seq))) {
                err = cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                                  "out of memory");
                goto out;
            }
        }
    }
    qsort(nv, nn, sizeof *nv, shard_cmp);
    for (size_t i = 1; i < nn; i++)
        if (strcmp(nv[i - 1].id, nv[i].id) == 0) {
            err = cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                              "shard %s is listed twice", nv[i].id);
            goto out;
        }

    if (!complete) {
        /* Keep the known shards this partial list did not mention. */
        size_t listed = nn;
        for (size_t i = 0; i < s->n; i++) {
            if (shards_find(nv, listed, s->v[i].id) >= 0)
                continue;
            nv[nn++] = s->v[i];
            memset(&s->v[i], 0, sizeof s->v[i]);
        }
        qsort(nv, nn, sizeof *nv, shard_cmp);
    }

    shards_free_array(s->v, s->n);
    s->v = nv;
    s->n = nn;
    return CDC_OK;

out:
    shards_free_array(nv, nn);
    return err;
}

cdc_err_t cdc_shards_mark_finished(cdc_shards_t *s, const char *shard_id,
                                   char *errstr, size_t errstr_size)
{
    long i;

    if (!s || !shard_id)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                           "no shard id");
    i = shards_find(s->v, s->n, shard_id);
    if (i < 0)
        return cdc_err_set(errstr, errstr_size, CDC_ERR_NOT_FOUND,
                           "shard %s is not among the %zu known shards",
                           shard_id, s->n);
    s->v[i].finished = true;
    return CDC_OK;
}

/* A parent blocks its child while it is listed and not finished; a parent
 * that is not listed was trimmed (or never existed) and blocks nothing. */
static bool parent_blocks(const cdc_shards_t *s, const char *parent)
{
    const shard_t *p;

    if (!parent)
        return false;
    p = shards_get(s, parent);
    return p && !p->finished;
}

static cdc_shard_state_t shard_state(const cdc_shards_t *s, const shard_t *sh)
{
    if (sh->finished)
        return CDC_SHARD_FINISHED;
    if (parent_blocks(s, sh->parent) || parent_blocks(s, sh->adjacent))
        return CDC_SHARD_WAITING;
    return CDC_SHARD_READABLE;
}

cdc_shard_state_t cdc_shards_state(const cdc_shards_t *s, const char *shard_id)
{
    const shard_t *sh = shards_get(s, shard_id);
    return sh ? shard_state(s, sh) : CDC_SHARD_UNKNOWN;
}

bool cdc_shards_closed(const cdc_shards_t *s, const char *shard_id)
{
    const shard_t *sh = shards_get(s, shard_id);
    return sh && (sh->end_seq || sh->finished);
}

size_t cdc_shards_readable(const cdc_shards_t *s, const char **out,
                           size_t cap)
{
    size_t n = 0;

    if (!s)
        return 0;
    for (size_t i = 0; i < s->n; i++) {
        if (shard_state(s, &s->v[i]) != CDC_SHARD_READABLE)
            continue;
        if (out && n < cap)
            out[n] = s->v[i].id;
        n++;
    }
    return n;
}

size_t cdc_shards_count(const cdc_shards_t *s)
{
    return s ? s->n : 0;
}

size_t cdc_shards_finished_count(const cdc_shards_t *s)
{
    size_t n = 0;

    for (size_t i = 0; s && i < s->n; i++)
        n += s->v[i].finished;
    return n;
}

bool cdc_shards_need_relist(const cdc_shards_t *s)
{
    if (!s)
        return false;
    for (size_t i = 0; i < s->n; i++) {
        const char *id = s->v[i].id;
        bool has_child = false;

        if (!s->v[i].finished)
            continue;
        for (size_t j = 0; j < s->n && !has_child; j++) {
            const shard_t *c = &s->v[j];
            has_child = (c->parent && strcmp(c->parent, id) == 0) ||
                        (c->adjacent && strcmp(c->adjacent, id) == 0);
        }
        if (!has_child)
            return true;
    }
    return false;
}
