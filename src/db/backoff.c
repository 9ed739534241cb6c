/*
 * backoff.c - retry delays with decorrelated jitter (see backoff.h).
 */
#include "db/backoff.h"

void cdc_backoff_init(cdc_backoff_t *b, int64_t base_ms, int64_t max_ms,
                      cdc_backoff_rand_fn rand, void *rand_ud)
{
    b->base_ms = base_ms < 1 ? 1 : base_ms;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->rand = rand;
    b->rand_ud = rand_ud;
    cdc_backoff_reset(b);
}

void cdc_backoff_reset(cdc_backoff_t *b)
{
    b->prev_ms = 0;
    b->attempts = 0;
}

/* Uniform in [lo, hi] (hi >= lo); the modulo bias is negligible for
 * millisecond ranges. */
static int64_t uniform(cdc_backoff_t *b, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(b->rand(b->rand_ud) % span);
}

int64_t cdc_backoff_next(cdc_backoff_t *b)
{
    int64_t prev = b->prev_ms ? b->prev_ms : b->base_ms;
    /* 3 * prev cannot overflow: prev <= max_ms, a config value in ms. */
    int64_t hi = prev > b->max_ms / 3 ? b->max_ms : prev * 3;
    int64_t d = uniform(b, b->base_ms, hi < b->base_ms ? b->base_ms : hi);
    if (d > b->max_ms)
        d = b->max_ms;
    b->prev_ms = d;
    b->attempts++;
    return d;
}

uint64_t cdc_backoff_rand_default(void *state)
{
    uint64_t *s = state;
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}
