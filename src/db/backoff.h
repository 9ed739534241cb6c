/*
 * backoff.h - how long to wait before retrying something that failed.
 *
 * Owns the retry delays: exponential growth from retry.backoff.ms up to
 * retry.backoff.max.ms with decorrelated jitter, so many daemons that lost
 * the same endpoint do not retry in step. The random source is injected so
 * tests can pin the delays. Does not own clocks or decide what to retry.
 */
#ifndef CDC_DB_BACKOFF_H
#define CDC_DB_BACKOFF_H

#include <stdint.h>

/* Uniformly distributed 64-bit values. */
typedef uint64_t (*cdc_backoff_rand_fn)(void *ud);

typedef struct {
    int64_t base_ms;           /* first delay, and the least one */
    int64_t max_ms;            /* the most one */
    int64_t prev_ms;           /* the last delay; 0 before the first */
    unsigned attempts;         /* delays handed out since the last reset */
    cdc_backoff_rand_fn rand;
    void *rand_ud;
} cdc_backoff_t;

/* base_ms >= 1; max_ms below base_ms is raised to it. rand must not be
 * NULL (see cdc_backoff_rand_default). */
void cdc_backoff_init(cdc_backoff_t *b, int64_t base_ms, int64_t max_ms,
                      cdc_backoff_rand_fn rand, void *rand_ud);

/*
 * The next delay, in [base_ms, max_ms]: "decorrelated jitter",
 * uniform(base, min(max, 3 * previous)) with previous = base_ms at first,
 * so delays grow about 2x per failure on average and never synchronise.
 */
int64_t cdc_backoff_next(cdc_backoff_t *b);

/* After a success: the next delay starts from base_ms again. */
void cdc_backoff_reset(cdc_backoff_t *b);

/* A default random source: xorshift64* over *state (seed it non-zero). */
uint64_t cdc_backoff_rand_default(void *state);

#endif
