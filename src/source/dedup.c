/*
 * dedup.c - open-addressing hash set of row-version digests (see dedup.h).
 *
 * Digests are SHA-256 truncated to 64 bits: with the window's entries in the
 * hundreds of thousands, the chance that a late row collides with an
 * emitted one (and is wrongly suppressed) stays below 1e-8.
 */
#include "source/dedup.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* 20 bytes: a busy table holds hundreds of thousands of these (every
 * version of the last dsql.lookback.ms). seq keeps the low 32 bits of the
 * step number; entries live a few minutes, far fewer than 2^31 steps. */
typedef struct __attribute__((packed)) {
    uint64_t digest; /* 0 = empty slot */
    int64_t ts_us;
    uint32_t seq;
} entry_t;

/* Was an entry of step seq emitted by step max_seq or earlier? */
static bool seq_at_or_before(uint32_t seq, uint64_t max_seq)
{
    return (int32_t)(seq - (uint32_t)max_seq) <= 0;
}

struct cdc_dedup {
    entry_t *slots;
    size_t cap; /* power of two */
    size_t count;
    int64_t oldest; /* no entry is stamped earlier (INT64_MAX: empty) */
};

cdc_dedup_t *cdc_dedup_new(void)
{
    cdc_dedup_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cap = 1024;
    d->oldest = INT64_MAX;
    d->slots = calloc(d->cap, sizeof *d->slots);
    if (!d->slots) {
        free(d);
        return NULL;
    }
    return d;
}

void cdc_dedup_destroy(cdc_dedup_t *d)
{
    if (!d)
        return;
    free(d->slots);
    free(d);
}

/*
 * SHA-256 fetched from the default provider once per process. Passing
 * EVP_sha256() to EVP_DigestInit_ex makes OpenSSL 3 fetch the
 * implementation again on every call, which cost more than the hashing
 * itself. The handle is immutable after the fetch and never freed: it lives
 * as long as the process, like EVP_sha256()'s own object.
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    /* Should the fetch fail, the implicit fetch still works (slowly). */
    return sha256_md ? sha256_md : EVP_sha256();
}

uint64_t cdc_dedup_digest(const char *const *key_vals, const size_t *key_lens,
                          size_t n, int64_t ts_us)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex2(ctx, sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        /* Length-prefixed, so ("ab","c") and ("a","bc") differ. */
        uint64_t l = key_lens[i];
        EVP_DigestUpdate(ctx, &l, sizeof l);
        EVP_DigestUpdate(ctx, key_vals[i], key_lens[i]);
    }
    EVP_DigestUpdate(ctx, &ts_us, sizeof ts_us);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    uint64_t h;
    memcpy(&h, md, sizeof h);
    return h ? h : 1;
}

static size_t slot_of(const cdc_dedup_t *d, uint64_t digest)
{
    size_t i = (size_t)(digest * 0x9E3779B97F4A7C15ull) & (d->cap - 1);
    while (d->slots[i].digest && d->slots[i].digest != digest)
        i = (i + 1) & (d->cap - 1);
    return i;
}

bool cdc_dedup_contains(const cdc_dedup_t *d, uint64_t digest)
{
    return d->slots[slot_of(d, digest ? digest : 1)].digest != 0;
}

/* Rebuild into a table of cap slots, keeping entries with ts >= min_ts. */
static cdc_err_t rebuild(cdc_dedup_t *d, size_t cap, int64_t min_ts)
{
    entry_t *old = d->slots;
    size_t old_cap = d->cap;
    entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return CDC_ERR_NOMEM;
    d->slots = slots;
    d->cap = cap;
    d->count = 0;
    d->oldest = INT64_MAX;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].digest && old[i].ts_us >= min_ts) {
            d->slots[slot_of(d, old[i].digest)] = old[i];
            d->count++;
            if (old[i].ts_us < d->oldest)
                d->oldest = old[i].ts_us;
        }
    }
    free(old);
    return CDC_OK;
}

cdc_err_t cdc_dedup_add(cdc_dedup_t *d, uint64_t digest, int64_t ts_us,
                        uint64_t seq)
{
    if (!digest)
        digest = 1;
    /* Keep the load factor under 3/4: probes stay short (linear probing
     * averages 2.5 for a hit there) and memory follows the entries. */
    if ((d->count + 1) * 4 > d->cap * 3 &&
        rebuild(d, d->cap * 2, INT64_MIN) != CDC_OK)
        return CDC_ERR_NOMEM;
    size_t i = slot_of(d, digest);
    if (d->slots[i].digest)
        return CDC_OK;
    d->slots[i] = (entry_t){digest, ts_us, (uint32_t)seq};
    d->count++;
    if (ts_us < d->oldest)
        d->oldest = ts_us;
    return CDC_OK;
}

/*
 * Called each time the watermark moves (every poll of a busy table), so it
 * allocates only to shrink: expired slots are emptied in place, then every
 * entry left is re-seated, going round from an empty slot, so each probe
 * chain is whole again (an entry's home-to-slot path then holds no hole).
 */
void cdc_dedup_prune(cdc_dedup_t *d, int64_t ts_us)
{
    if (ts_us <= d->oldest)
        return; /* nothing stamped before ts_us */
    size_t cap = d->cap;
    /* Shrink when mostly empty, so memory follows the window. */
    while (cap > 1024 && d->count * 8 < cap)
        cap /= 2;
    if (cap < d->cap && rebuild(d, cap, ts_us) == CDC_OK)
        return;
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i].digest && d->slots[i].ts_us < ts_us) {
            d->slots[i].digest = 0;
            d->count--;
        }
    size_t mask = d->cap - 1, start = 0;
    while (d->slots[start].digest) /* the load factor leaves a hole */
        start++;
    d->oldest = INT64_MAX;
    for (size_t k = 1; k < d->cap; k++) {
        size_t i = (start + k) & mask;
        if (!d->slots[i].digest)
            continue;
        entry_t e = d->slots[i];
        d->slots[i].digest = 0;
        d->slots[slot_of(d, e.digest)] = e;
        if (e.ts_us < d->oldest)
            d->oldest = e.ts_us;
    }
}

size_t cdc_dedup_count(const cdc_dedup_t *d)
{
    return d->count;
}

/* Entries are base64-encoded in chunks of EXPORT_CHUNK (a multiple of 3
 * entries, so of 3 bytes: the chunks' base64 joins up as the whole's). */
#define EXPORT_CHUNK (3 * 256)

cdc_err_t cdc_dedup_export(const cdc_dedup_t *d, uint64_t max_seq,
                           cdc_buf_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < d->cap; i++)
        n += d->slots[i].digest && seq_at_or_before(d->slots[i].seq, max_seq);
    if (!n)
        return CDC_OK;
    cdc_err_t err = cdc_buf_reserve(out, 4 * ((n * 16 + 2) / 3));
    if (err != CDC_OK)
        return err;
    unsigned char raw[EXPORT_CHUNK * 16];
    size_t k = 0;
    for (size_t i = 0; i <= d->cap; i++) {
        if (i < d->cap) {
            const entry_t *e = &d->slots[i];
            if (!e->digest || !seq_at_or_before(e->seq, max_seq))
                continue;
            uint64_t digest = e->digest;
            int64_t ts = e->ts_us;
            memcpy(raw + k * 16, &digest, 8);
            memcpy(raw + k * 16 + 8, &ts, 8);
            k++;
        }
        if (k == EXPORT_CHUNK || (i == d->cap && k)) {
            out->len += (size_t)EVP_EncodeBlock(
                (unsigned char *)out->data + out->len, raw, (int)(k * 16));
            k = 0;
        }
    }
    out->data[out->len] = '\0';
    return CDC_OK;
}

cdc_err_t cdc_dedup_import(cdc_dedup_t *d, const char *b64, size_t len)
{
    if (len == 0)
        return CDC_OK;
    if (len % 4 != 0)
        return CDC_ERR_PARSE;
    unsigned char *raw = malloc(len / 4 * 3 + 1);
    if (!raw)
        return CDC_ERR_NOMEM;
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    /* EVP_DecodeBlock counts padding bytes as data: drop them. */
    if (n >= 0 && len >= 1 && b64[len - 1] == '=')
        n--;
    if (n >= 0 && len >= 2 && b64[len - 2] == '=')
        n--;
    cdc_err_t err = CDC_OK;
    if (n < 0 || n % 16 != 0)
        err = CDC_ERR_PARSE;
    for (int o = 0; err == CDC_OK && o < n; o += 16) {
        uint64_t digest;
        int64_t ts;
        memcpy(&digest, raw + o, 8);
        memcpy(&ts, raw + o + 8, 8);
        err = cdc_dedup_add(d, digest, ts, 0);
    }
    free(raw);
    return err;
}
