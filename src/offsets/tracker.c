/*
 * tracker.c - delivery watermark (see tracker.h): a FIFO of batches.
 */
#include "offsets/tracker.h"

#include <stdlib.h>

struct cdc_batch {
    cdc_delivery_t hdr; /* first: see tracker.h */
    cdc_batch_t *next;
    cdc_tracker_t *owner;
    size_t outstanding;
    json_t *pos; /* NULL while open */
};

struct cdc_tracker {
    cdc_batch_t *head, *tail; /* oldest .. newest; tail may be open */
    size_t in_flight;
    cdc_source_t *owner;
};

cdc_tracker_t *cdc_tracker_new(cdc_source_t *owner)
{
    cdc_tracker_t *t = calloc(1, sizeof(cdc_tracker_t));
    if (t)
        t->owner = owner;
    return t;
}

void cdc_tracker_destroy(cdc_tracker_t *t)
{
    if (!t)
        return;
    for (cdc_batch_t *b = t->head, *next; b; b = next) {
        next = b->next;
        json_decref(b->pos);
        free(b);
    }
    free(t);
}

cdc_batch_t *cdc_tracker_batch(cdc_tracker_t *t)
{
    if (t->tail && !t->tail->pos)
        return t->tail;
    cdc_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->owner = t;
    b->hdr.source = t->owner;
    if (t->tail)
        t->tail->next = b;
    else
        t->head = b;
    t->tail = b;
    return b;
}

void cdc_tracker_record_sent(cdc_batch_t *b)
{
    b->outstanding++;
    b->owner->in_flight++;
}

void cdc_tracker_record_done(cdc_batch_t *b)
{
    b->outstanding--;
    b->owner->in_flight--;
}

cdc_err_t cdc_tracker_seal(cdc_tracker_t *t, json_t *pos)
{
    cdc_batch_t *b = cdc_tracker_batch(t);
    if (!b)
        return CDC_ERR_NOMEM;
    b->pos = json_incref(pos);
    return CDC_OK;
}

json_t *cdc_tracker_advance(cdc_tracker_t *t)
{
    json_t *newest = NULL;
    while (t->head && t->head->pos && t->head->outstanding == 0) {
        cdc_batch_t *b = t->head;
        json_decref(newest);
        newest = b->pos;
        t->head = b->next;
        if (!t->head)
            t->tail = NULL;
        free(b);
    }
    return newest;
}

size_t cdc_tracker_in_flight(const cdc_tracker_t *t)
{
    return t->in_flight;
}
