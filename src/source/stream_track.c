/*
 * stream_track.c - per-shard delivery watermark (see stream_track.h).
 *
 * A singly linked FIFO of slots: records are added at the tail in read
 * order and leave from the head once done, so advance only ever looks at
 * the head and the cost is O(1) per record.
 */
#include "source/stream_track.h"

#include <stdlib.h>
#include <string.h>

struct cdc_stream_slot {
    cdc_stream_slot_t *next;
    char *seq;
    char **notes;
    size_t nnotes;
    bool done;
};

struct cdc_stream_track {
    cdc_stream_slot_t *head, *tail;
    size_t held;
    char *checkpoint;
};

cdc_stream_track_t *cdc_stream_track_new(const char *checkpoint)
{
    cdc_stream_track_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (checkpoint && !(t->checkpoint = strdup(checkpoint))) {
        free(t);
        return NULL;
    }
    return t;
}

static void slot_free(cdc_stream_slot_t *s)
{
    for (size_t i = 0; i < s->nnotes; i++)
        free(s->notes[i]);
    free(s->notes);
    free(s->seq);
    free(s);
}

void cdc_stream_track_destroy(cdc_stream_track_t *t)
{
    if (!t)
        return;
    for (cdc_stream_slot_t *s = t->head, *nx; s; s = nx) {
        nx = s->next;
        slot_free(s);
    }
    free(t->checkpoint);
    free(t);
}

cdc_stream_slot_t *cdc_stream_track_add(cdc_stream_track_t *t,
                                        const char *seq)
{
    cdc_stream_slot_t *s = calloc(1, sizeof *s);
    if (!s || !(s->seq = strdup(seq))) {
        free(s);
        return NULL;
    }
    if (t->tail)
        t->tail->next = s;
    else
        t->head = s;
    t->tail = s;
    t->held++;
    return s;
}

void cdc_stream_slot_done(cdc_stream_slot_t *s)
{
    s->done = true;
}

bool cdc_stream_slot_is_done(const cdc_stream_slot_t *s)
{
    return s->done;
}

cdc_err_t cdc_stream_slot_note(cdc_stream_slot_t *s, const char *note)
{
    char **v = realloc(s->notes, (s->nnotes + 1) * sizeof *v);
    if (!v)
        return CDC_ERR_NOMEM;
    s->notes = v;
    if (!(v[s->nnotes] = strdup(note)))
        return CDC_ERR_NOMEM;
    s->nnotes++;
    return CDC_OK;
}

bool cdc_stream_track_advance(cdc_stream_track_t *t,
                              void (*fn)(void *ctx, const char *note),
                              void *ctx)
{
    bool moved = false;
    while (t->head && t->head->done) {
        cdc_stream_slot_t *s = t->head;
        t->head = s->next;
        if (!t->head)
            t->tail = NULL;
        t->held--;
        for (size_t i = 0; fn && i < s->nnotes; i++)
            fn(ctx, s->notes[i]);
        free(t->checkpoint);
        t->checkpoint = s->seq; /* taken over */
        s->seq = NULL;
        slot_free(s);
        moved = true;
    }
    return moved;
}

const char *cdc_stream_track_checkpoint(const cdc_stream_track_t *t)
{
    return t->checkpoint;
}

size_t cdc_stream_track_held(const cdc_stream_track_t *t)
{
    return t->held;
}
