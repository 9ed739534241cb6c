/*
 * stream.c - the stream source (see stream.h).
 *
 * Each Kinesis record gets a slot in its shard's tracker (stream_track.h),
 * is parsed (cdcrec.h), goes through reassembly when it is a fragment or a
 * split main record (reassembly.h), then through the reorderer (reorder.h),
 * whose changes go to the daemon with a delivery handle; when every message
 * of a change is delivered, its record's slot is done.
 *
 * Checkpoint: a shard's committed sequence number is the last record of the
 * leading run of done slots. A record is done when its change was delivered
 * or it was deliberately dropped (duplicate, stale, filtered, a delete
 * without a key, malformed). Records held in the reorder window and split
 * main records waiting for fragments are not done, so the checkpoint stays
 * before them and a restart reads them again. Fragments are done at once:
 * the position carries them (the reassembly export), and a rebuilt record's
 * fragments are only let go when its main record's slot leaves the tracker.
 * The reorderer's key state (delivered versions only) goes with the
 * position, so records read again that were delivered before come back as
 * duplicates and are dropped: a restart neither loses nor repeats changes.
 *
 * Position, one offset entry "stream:<stream name>":
 *   {"v":1,"shards":{"<shard id>":{"seq":"<n>"|"from_ms":N,
 *    "finished":true},...},"reorder":{..},"reassembly":{..},
 *    "released":["<chunk id>",...]}
 * from_ms: a shard started at latest/at_timestamp before any record was
 * handled resumes there (AT_TIMESTAMP). finished: read to its end and every
 * record handled, so its children may be read.
 */
#include "source/stream.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "source/cdcrec.h"
#include "source/kinesis.h"
#include "source/reassembly.h"
#include "source/reorder.h"
#include "source/shards.h"
#include "source/stream_schema.h"
#include "source/stream_track.h"

#define MOD "stream"
/* Records taken from a GetRecords answer per step: bounds a step's work
 * while one call may return up to GET_LIMIT. */
#define PROCESS_MAX 1000
#define GET_LIMIT 10000
#define RELIST_MS 60000          /* ListShards again at least this often */
#define RELIST_MIN_MS 1000       /* ... and no more often than this */
#define EXPIRE_EVERY_MS 5000     /* reassembly age check */
#define CATALOG_REFRESH_MS 60000 /* least time between catalog reloads */
#define PUT_MIN_MS 200           /* least time between positions put while
                                    deliveries are in flight */
#define STATS_MS 60000
#define LATEST_MARGIN_MS 1000    /* clock skew allowance for from_ms */
#define RELEASED_MAX 256         /* rebuilt chunks remembered */
#define NOKEY_LOG_MS 10000

typedef struct {
    char *id;
    cdc_stream_track_t *track;
    cdc_kinesis_pacer_t *pacer;
    char *iterator;          /* NULL: get one before reading */
    char *last_read;         /* newest sequence number read in this run */
    int64_t from_ms;         /* see the file comment; 0: none */
    bool use_start;          /* stream.start.position applies */
    bool ended;              /* drained to its end (or stored finished) */
    bool finished_stored;    /* ended and every record handled */
    bool listed;             /* in the last ListShards */
    int64_t idle_until;      /* after an empty answer */
    cdc_kinesis_records_t batch; /* read, not yet taken */
    size_t batch_next;
} shard_t;

typedef struct deliv deliv_t;
typedef struct stream_source stream_source_t;

/* A change's delivery handle: one per emitted change. */
struct deliv {
    cdc_delivery_t base; /* first */
    deliv_t *prev, *next;
    cdc_stream_slot_t *slot;
    uint64_t seq;
    unsigned refs;       /* messages in flight + 1 while being emitted */
    bool failed;         /* emit failed: the reorderer offers it again */
    bool undelivered;    /* a message was not delivered */
};

struct stream_source {
    cdc_source_t base; /* first */
    const cdc_config_t *cfg;
    char *key;         /* offset key and name: "stream:<name>" */
    cdc_kinesis_t *kin;
    cdc_db_t *db;
    cdc_shards_t *lineage;
    shard_t **shards;
    size_t nshards, cap;
    size_t rr;
    cdc_reassembly_t *reasm;
    cdc_reorder_t *reorder;
    cdc_stream_schema_t *schema;
    cdc_emitter_t *emitter; /* during a step */

    cdc_kinesis_iter_type_t start_type;
    int64_t start_ts_ms;
    bool had_position;
    bool listed_once;
    int64_t next_list_ms;
    int64_t relist_not_before;
    int64_t next_expire_ms;
    int64_t idle_ms;

    bool catalog_loaded;
    int64_t next_catalog_ms;

    deliv_t *live;
    uint64_t *delivered;  /* seqs to report to the reorderer */
    size_t ndelivered, capdelivered;
    size_t outstanding;   /* messages sent, not yet reported */
    bool dirty;
    int64_t last_put_ms;

    char *released[RELEASED_MAX]; /* ring of rebuilt chunk ids let go */
    size_t released_next;

    struct {
        uint64_t records, fragments, malformed, unkeyable, lost, undelivered;
        uint64_t no_key, no_key_logged;
    } st;
    int64_t next_stats_ms, last_nokey_log_ms, last_unkeyable_log_ms;
    bool ready; /* set up: the final statistics are worth a line */
    char last_stats[512];
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* ---- shards ------------------------------------------------------------- */

static void shard_free(shard_t *sh)
{
    if (!sh)
        return;
    free(sh->id);
    cdc_stream_track_destroy(sh->track);
    cdc_kinesis_pacer_destroy(sh->pacer);
    free(sh->iterator);
    free(sh->last_read);
    cdc_kinesis_records_clear(&sh->batch);
    free(sh);
}

static shard_t *shard_find(const stream_source_t *ss, const char *id)
{
    for (size_t i = 0; i < ss->nshards; i++)
        if (strcmp(ss->shards[i]->id, id) == 0)
            return ss->shards[i];
    return NULL;
}

/* A new shard with its stored checkpoint (NULL: none). */
static shard_t *shard_add(stream_source_t *ss, const char *id,
                          const char *checkpoint)
{
    if (ss->nshards == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 8;
        shard_t **p = realloc(ss->shards, cap * sizeof *p);
        if (!p)
            return NULL;
        ss->shards = p;
        ss->cap = cap;
    }
    shard_t *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    cdc_kinesis_records_init(&sh->batch);
    sh->id = strdup(id);
    sh->track = cdc_stream_track_new(checkpoint);
    sh->pacer = cdc_kinesis_pacer_new(NULL);
    if (!sh->id || !sh->track || !sh->pacer) {
        shard_free(sh);
        return NULL;
    }
    ss->shards[ss->nshards++] = sh;
    return sh;
}

static void shard_remove(stream_source_t *ss, size_t i)
{
    shard_free(ss->shards[i]);
    memmove(&ss->shards[i], &ss->shards[i + 1],
            (ss->nshards - i - 1) * sizeof *ss->shards);
    ss->nshards--;
    if (ss->rr > i)
        ss->rr--;
}

static bool shard_has_batch(const shard_t *sh)
{
    return sh->batch_next < sh->batch.nrecords;
}

/* ---- released chunks ---------------------------------------------------- */

static bool released_has(const stream_source_t *ss, const char *chunk)
{
    for (size_t i = 0; i < RELEASED_MAX; i++)
        if (ss->released[i] && strcmp(ss->released[i], chunk) == 0)
            return true;
    return false;
}

static void released_add(stream_source_t *ss, const char *chunk)
{
    if (released_has(ss, chunk))
        return;
    char *dup = strdup(chunk);
    if (!dup)
        return; /* only an optimisation: a late piece then ages out */
    free(ss->released[ss->released_next]);
    ss->released[ss->released_next] = dup;
    ss->released_next = (ss->released_next + 1) % RELEASED_MAX;
}

/* A rebuilt record's main slot left its tracker: its fragments are no
 * longer needed for a restart. */
static void release_chunk(void *ctx, const char *chunk)
{
    stream_source_t *ss = ctx;
    cdc_reassembly_release(ss->reasm, chunk);
    released_add(ss, chunk);
}

/* ---- delivery ----------------------------------------------------------- */

static void delivered_flush(stream_source_t *ss)
{
    for (size_t i = 0; i < ss->ndelivered; i++)
        cdc_reorder_delivered(ss->reorder, ss->delivered[i]);
    ss->ndelivered = 0;
}

static void deliv_unref(stream_source_t *ss, deliv_t *d)
{
    if (--d->refs > 0)
        return;
    if (!d->failed && !d->undelivered) {
        cdc_stream_slot_done(d->slot);
        /* The reorderer learns of it outside its own callback (it records
         * the emission only after the callback returns). */
        if (ss->ndelivered == ss->capdelivered) {
            size_t cap = ss->capdelivered ? ss->capdelivered * 2 : 64;
            uint64_t *p = realloc(ss->delivered, cap * sizeof *p);
            if (p) {
                ss->delivered = p;
                ss->capdelivered = cap;
            }
        }
        if (ss->ndelivered < ss->capdelivered)
            ss->delivered[ss->ndelivered++] = d->seq;
        else
            cdc_log_error(MOD, "%s: out of memory noting a delivery: the "
                          "stored key state may lag and a restart repeat "
                          "a change", ss->key);
        ss->dirty = true;
    }
    if (d->prev)
        d->prev->next = d->next;
    else
        ss->live = d->next;
    if (d->next)
        d->next->prev = d->prev;
    free(d);
}

/* Reorderer callback: one change, in order for its key. */
static cdc_err_t on_change(void *opaque, const cdc_reorder_out_t *out,
                           char *errstr, size_t n)
{
    stream_source_t *ss = opaque;
    if (!ss->emitter)
        return cdc_err_set(errstr, n, CDC_ERR_INTERNAL,
                           "%s: a change came out of the reorderer outside "
                           "a step", ss->key);
    deliv_t *d = calloc(1, sizeof *d);
    if (!d)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: out of memory",
                           ss->key);
    d->base.source = &ss->base;
    d->slot = (cdc_stream_slot_t *)(uintptr_t)out->pos;
    d->seq = out->seq;
    d->refs = 1;
    d->next = ss->live;
    if (ss->live)
        ss->live->prev = d;
    ss->live = d;
    cdc_err_t err = cdc_emit(ss->emitter, &out->change, &d->base, errstr, n);
    if (err != CDC_OK)
        d->failed = true;
    deliv_unref(ss, d);
    return err;
}

static void ss_sent(cdc_source_t *s, cdc_delivery_t *h)
{
    stream_source_t *ss = (stream_source_t *)s;
    ((deliv_t *)h)->refs++;
    ss->outstanding++;
}

static void ss_done(cdc_source_t *s, cdc_delivery_t *h, cdc_err_t err)
{
    stream_source_t *ss = (stream_source_t *)s;
    deliv_t *d = (deliv_t *)h;
    if (ss->outstanding)
        ss->outstanding--;
    if (err != CDC_OK && !d->undelivered) {
        d->undelivered = true;
        ss->st.undelivered++;
        cdc_log_error(MOD, "%s: a change was not delivered (%s); its shard's "
                      "checkpoint stays before it until a restart reads it "
                      "again", ss->key, cdc_err_str(err));
    }
    deliv_unref(ss, d);
}

/* Reassembly callback: held pieces let go. Fragments were added without a
 * slot (they are done once held); a main record's change is lost, which
 * reassembly has logged. */
static void on_reasm_drop(void *opaque, uint64_t pos, bool main,
                          cdc_reasm_drop_t why)
{
    stream_source_t *ss = opaque;
    if (!main || !pos)
        return;
    if (why != CDC_REASM_DROP_CORRUPT)
        ss->st.lost++;
    cdc_stream_slot_done((cdc_stream_slot_t *)(uintptr_t)pos);
}

/* ---- catalog ------------------------------------------------------------ */

static void apply_table(void *ctx, const cdc_stream_table_t *t)
{
    stream_source_t *ss = ctx;
    if (t->keys_known &&
        cdc_reorder_set_key(ss->reorder, t->schema, t->table, t->keys,
                            t->nkeys) != CDC_OK)
        cdc_log_error(MOD, "%s: out of memory setting the key of %s.%s",
                      ss->key, t->schema, t->table);
    for (size_t i = 0; i < t->ncols; i++)
        if (cdc_reorder_set_type(ss->reorder, t->schema, t->table,
                                 t->cols[i], t->oids[i]) != CDC_OK)
            cdc_log_error(MOD, "%s: out of memory setting column types of "
                          "%s.%s", ss->key, t->schema, t->table);
}

/* Blocking (bounded by the connection timeout). */
static cdc_err_t load_catalog(stream_source_t *ss, int64_t now, char *errstr,
                              size_t n)
{
    PGconn *conn;
    ss->next_catalog_ms = now + CATALOG_REFRESH_MS;
    cdc_err_t err = cdc_db_get(ss->db, &conn, errstr, n);
    if (err != CDC_OK) {
        cdc_db_reset(ss->db);
        return err;
    }
    size_t ntables;
    err = cdc_stream_schema_load(ss->schema, conn, &ntables, errstr, n);
    if (err == CDC_ERR_DB_CONNECT)
        cdc_db_reset(ss->db);
    if (err != CDC_OK)
        return err;
    cdc_stream_schema_each(ss->schema, apply_table, ss);
    cdc_log_info(MOD, "%s: column types and primary keys of %zu table(s) "
                 "read from the catalog of %s", ss->key, ntables,
                 cdc_db_endpoint(ss->db));
    ss->catalog_loaded = true;
    return CDC_OK;
}

/* A record of a table or column the catalog did not have: read it again
 * (at most every CATALOG_REFRESH_MS), so new columns render by type. */
static void maybe_refresh_catalog(stream_source_t *ss, const cdc_cdcrec_t *rec,
                                  int64_t now)
{
    if (!ss->db || now < ss->next_catalog_ms)
        return;
    const cdc_cdcrec_image_t *img = rec->after.obj ? &rec->after : &rec->before;
    if (!img->obj || cdc_stream_schema_covers(ss->schema, rec->source.schema,
                                              rec->source.table, img))
        return;
    char e[512];
    if (load_catalog(ss, now, e, sizeof e) != CDC_OK)
        cdc_log_warn(MOD, "%s: could not read the catalog again for %s.%s "
                     "(%s); its values render by their JSON type until it "
                     "can", ss->key, rec->source.schema, rec->source.table, e);
}

/* ---- records ------------------------------------------------------------ */

static void note_no_key(stream_source_t *ss, const char *schema,
                        const char *table, int64_t now)
{
    ss->st.no_key++;
    if (ss->last_nokey_log_ms && now - ss->last_nokey_log_ms < NOKEY_LOG_MS)
        return;
    ss->last_nokey_log_ms = now;
    cdc_log_warn(MOD, "%s: skipped a delete on %s.%s: the table has no "
                 "primary key (nor message.key.columns), so DSQL sends no "
                 "image and the deleted row cannot be identified; %" PRIu64
                 " such delete(s) skipped so far", ss->key, schema, table,
                 ss->st.no_key);
}

/* Hand a full record (moved in) to the reorderer; slot is its record's. */
static cdc_err_t push_full(stream_source_t *ss, cdc_cdcrec_t *rec,
                           cdc_stream_slot_t *slot, int64_t now,
                           char *errstr, size_t n)
{
    maybe_refresh_catalog(ss, rec, now);
    char schema[128], table[128];
    snprintf(schema, sizeof schema, "%s", rec->source.schema);
    snprintf(table, sizeof table, "%s", rec->source.table);
    uint64_t accepted = cdc_reorder_stats(ss->reorder).accepted;
    cdc_reorder_result_t res;
    cdc_err_t err = cdc_reorder_push(ss->reorder, rec, (uint64_t)(uintptr_t)slot,
                                     now, &res, errstr, n);
    if (cdc_reorder_stats(ss->reorder).accepted != accepted)
        return err; /* held (maybe emitted): its delivery completes it */
    if (res == CDC_REORDER_HELD) {
        /* Not kept: the record could not be keyed. */
        cdc_stream_slot_done(slot);
        if (err == CDC_OK)
            return CDC_OK;
        if (err == CDC_ERR_NOMEM)
            return err;
        ss->st.unkeyable++;
        if (!ss->last_unkeyable_log_ms ||
            now - ss->last_unkeyable_log_ms >= NOKEY_LOG_MS) {
            ss->last_unkeyable_log_ms = now;
            cdc_log_error(MOD, "%s: skipped a record that cannot be keyed "
                          "(%" PRIu64 " so far; logged at most every %d s): "
                          "%s", ss->key, ss->st.unkeyable,
                          NOKEY_LOG_MS / 1000, errstr);
        }
        return CDC_OK;
    }
    cdc_stream_slot_done(slot);
    if (res == CDC_REORDER_NO_KEY)
        note_no_key(ss, schema, table, now);
    return err;
}

static cdc_err_t note_chunks(cdc_stream_slot_t *slot, const cdc_cdcrec_t *rec)
{
    cdc_err_t err = CDC_OK;
    if (rec->chunk_before.present)
        err = cdc_stream_slot_note(slot, rec->chunk_before.chunk_id);
    if (err == CDC_OK && rec->chunk_after.present)
        err = cdc_stream_slot_note(slot, rec->chunk_after.chunk_id);
    return err;
}

/* A split piece whose record was rebuilt and let go already. */
static bool already_released(const stream_source_t *ss, const cdc_cdcrec_t *r)
{
    if (r->type == CDC_CDCREC_FRAGMENT)
        return released_has(ss, r->frag.chunk_id);
    return (!r->chunk_before.present ||
            released_has(ss, r->chunk_before.chunk_id)) &&
           (!r->chunk_after.present ||
            released_has(ss, r->chunk_after.chunk_id)) &&
           (r->chunk_before.present || r->chunk_after.present);
}

static cdc_err_t take_split(stream_source_t *ss, cdc_cdcrec_t *rec,
                            cdc_stream_slot_t *slot, int64_t now,
                            char *errstr, size_t n)
{
    bool main = rec->type == CDC_CDCREC_CHUNKED;
    if (!main)
        ss->st.fragments++;
    if (already_released(ss, rec)) {
        cdc_cdcrec_clear(rec);
        cdc_stream_slot_done(slot);
        return CDC_OK;
    }
    cdc_reasm_result_t res;
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    char e[768];
    cdc_err_t err = cdc_reassembly_add(ss->reasm, rec,
                                       main ? (uint64_t)(uintptr_t)slot : 0,
                                       now, &res, &out, e, sizeof e);
    /* A fragment is done once held: the position carries it. */
    if (!main)
        cdc_stream_slot_done(slot);
    if (err != CDC_OK) {
        if (main)
            cdc_stream_slot_done(slot);
        if (err == CDC_ERR_NOMEM)
            return cdc_err_set(errstr, n, err, "%s", e);
        cdc_log_error(MOD, "%s: %s", ss->key, e);
        return CDC_OK;
    }
    if (res == CDC_REASM_DUPLICATE && main)
        cdc_stream_slot_done(slot);
    if (res != CDC_REASM_COMPLETE)
        return CDC_OK;
    cdc_stream_slot_t *mslot = (cdc_stream_slot_t *)(uintptr_t)out.pos;
    if (note_chunks(mslot, &out.rec) != CDC_OK) {
        cdc_reassembly_out_clear(&out);
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: out of memory",
                           ss->key);
    }
    err = push_full(ss, &out.rec, mslot, now, errstr, n);
    cdc_reassembly_out_clear(&out);
    return err;
}

/* One Kinesis record of sh, in read order. */
static cdc_err_t take_record(stream_source_t *ss, shard_t *sh,
                             const cdc_kinesis_record_t *kr, int64_t now,
                             char *errstr, size_t n)
{
    char *seq = strdup(kr->sequence_number);
    cdc_stream_slot_t *slot = seq ? cdc_stream_track_add(sh->track, seq)
                                  : NULL;
    if (!slot) {
        free(seq);
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: out of memory",
                           ss->key);
    }
    free(sh->last_read);
    sh->last_read = seq;
    ss->st.records++;

    cdc_cdcrec_t rec;
    char e[768];
    cdc_err_t err = cdc_cdcrec_parse(kr->data, kr->data_len, &rec, e,
                                     sizeof e);
    if (err != CDC_OK) {
        cdc_stream_slot_done(slot);
        if (err == CDC_ERR_NOMEM)
            return cdc_err_set(errstr, n, err, "%s", e);
        ss->st.malformed++;
        cdc_log_error(MOD, "%s: shard %s record %s is not a DSQL CDC record "
                      "and is skipped: %s", ss->key, sh->id,
                      kr->sequence_number, e);
        return CDC_OK;
    }
    if (rec.type == CDC_CDCREC_FULL)
        return push_full(ss, &rec, slot, now, errstr, n);
    return take_split(ss, &rec, slot, now, errstr, n);
}

static cdc_err_t take_batch(stream_source_t *ss, shard_t *sh, int64_t now,
                            char *errstr, size_t n)
{
    cdc_err_t err = CDC_OK;
    for (size_t k = 0; k < PROCESS_MAX && shard_has_batch(sh) &&
                       err == CDC_OK; k++)
        err = take_record(ss, sh, &sh->batch.records[sh->batch_next++], now,
                          errstr, n);
    if (!shard_has_batch(sh)) {
        cdc_kinesis_records_clear(&sh->batch);
        sh->batch_next = 0;
    }
    return err;
}

/* ---- Kinesis ------------------------------------------------------------ */

/* After a failed call on sh: back off, renew the iterator or relist, and
 * return CDC_OK; or return the error when the task cannot go on alone. */
static cdc_err_t kinesis_failed(stream_source_t *ss, shard_t *sh,
                                cdc_err_t err, int64_t now, char *errstr,
                                size_t n)
{
    const cdc_kinesis_error_t *ke = cdc_kinesis_last_error(ss->kin);
    int64_t delay;
    switch (ke->kind) {
    case CDC_KIN_THROTTLED:
    case CDC_KIN_SERVER:
    case CDC_KIN_TRANSPORT:
    case CDC_KIN_IN_USE:
    case CDC_KIN_OTHER:
    case CDC_KIN_EXPIRED_TOKEN:
        delay = cdc_kinesis_pacer_on_backoff(sh->pacer, now);
        cdc_log_warn(MOD, "%s: shard %s: %s; retrying in %" PRId64 " ms",
                     ss->key, sh->id, errstr, delay);
        return CDC_OK;
    case CDC_KIN_EXPIRED_ITERATOR:
        cdc_log_info(MOD, "%s: shard %s: iterator expired; getting a new one "
                     "after the last record read", ss->key, sh->id);
        free(sh->iterator);
        sh->iterator = NULL;
        return CDC_OK;
    case CDC_KIN_NOT_FOUND:
        cdc_log_warn(MOD, "%s: shard %s: %s; listing the shards again",
                     ss->key, sh->id, errstr);
        free(sh->iterator);
        sh->iterator = NULL;
        cdc_kinesis_pacer_on_backoff(sh->pacer, now);
        ss->next_list_ms = now;
        return CDC_OK;
    case CDC_KIN_CREDENTIALS:
        cdc_kinesis_pacer_on_backoff(sh->pacer, now);
        return err;
    case CDC_KIN_INVALID_ARGUMENT:
        if (!sh->iterator && (sh->last_read ||
                              cdc_stream_track_checkpoint(sh->track))) {
            size_t len = strlen(errstr);
            snprintf(errstr + len, n > len ? n - len : 0, " (shard %s, "
                     "stored sequence number %s: does the offset entry %s "
                     "belong to this stream? Remove it to start afresh)",
                     sh->id, sh->last_read ? sh->last_read
                                           : cdc_stream_track_checkpoint(
                                                 sh->track), ss->key);
        }
        return err;
    default:
        return err;
    }
}

static cdc_err_t get_iterator(stream_source_t *ss, shard_t *sh, int64_t now,
                              char *errstr, size_t n)
{
    cdc_kinesis_start_t st = {.type = CDC_KIN_ITER_TRIM_HORIZON};
    const char *ckpt = cdc_stream_track_checkpoint(sh->track);
    int64_t from_ms = 0;
    if (sh->last_read) {
        st.type = CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER;
        st.sequence_number = sh->last_read;
    } else if (ckpt) {
        st.type = CDC_KIN_ITER_AFTER_SEQUENCE_NUMBER;
        st.sequence_number = ckpt;
    } else if (sh->from_ms) {
        st.type = CDC_KIN_ITER_AT_TIMESTAMP;
        st.timestamp_ms = sh->from_ms;
    } else if (sh->use_start) {
        st.type = ss->start_type;
        st.timestamp_ms = ss->start_ts_ms;
        if (st.type == CDC_KIN_ITER_LATEST)
            from_ms = wall_ms() - LATEST_MARGIN_MS;
        else if (st.type == CDC_KIN_ITER_AT_TIMESTAMP)
            from_ms = ss->start_ts_ms;
    }
    cdc_kinesis_pacer_on_call(sh->pacer, now);
    char *it = NULL;
    cdc_err_t err = cdc_kinesis_get_shard_iterator(ss->kin, sh->id, &st, &it,
                                                   errstr, n);
    if (err != CDC_OK)
        return kinesis_failed(ss, sh, err, now, errstr, n);
    cdc_kinesis_pacer_on_success(sh->pacer, now, 0);
    sh->iterator = it;
    if (from_ms && !sh->from_ms) {
        sh->from_ms = from_ms; /* so a restart resumes here */
        ss->dirty = true;
    }
    char at[32] = "";
    if (st.type == CDC_KIN_ITER_AT_TIMESTAMP)
        snprintf(at, sizeof at, " %" PRId64 " (epoch ms)", st.timestamp_ms);
    cdc_log_info(MOD, "%s: reading shard %s from %s%s%s%s", ss->key, sh->id,
                 cdc_kinesis_iter_type_name(st.type),
                 st.sequence_number ? " " : "",
                 st.sequence_number ? st.sequence_number : "", at);
    return CDC_OK;
}

static cdc_err_t get_records(stream_source_t *ss, shard_t *sh, int64_t now,
                             char *errstr, size_t n)
{
    cdc_kinesis_pacer_on_call(sh->pacer, now);
    cdc_err_t err = cdc_kinesis_get_records(ss->kin, sh->iterator, GET_LIMIT,
                                            sh->id, &sh->batch, errstr, n);
    if (err != CDC_OK)
        return kinesis_failed(ss, sh, err, now, errstr, n);
    int64_t after = cdc_kinesis_now_ms();
    cdc_kinesis_pacer_on_success(sh->pacer, after, sh->batch.bytes);
    sh->batch_next = 0;
    free(sh->iterator);
    sh->iterator = sh->batch.next_iterator; /* taken over */
    sh->batch.next_iterator = NULL;
    sh->idle_until = sh->batch.nrecords ? 0 : after + ss->idle_ms;
    if (sh->batch.nrecords)
        cdc_log_debug(MOD, "%s: %zu record(s) from shard %s (%" PRId64
                      " ms behind)", ss->key, sh->batch.nrecords, sh->id,
                      sh->batch.millis_behind_latest);
    if (!sh->iterator) {
        sh->ended = true;
        char e[256];
        if (cdc_shards_mark_finished(ss->lineage, sh->id, e, sizeof e) !=
            CDC_OK)
            cdc_log_warn(MOD, "%s: %s", ss->key, e);
        cdc_log_info(MOD, "%s: shard %s is read to its end; its children "
                     "are read next", ss->key, sh->id);
        ss->relist_not_before = now;
        ss->dirty = true;
    }
    return take_batch(ss, sh, now, errstr, n);
}

static cdc_err_t list_shards(stream_source_t *ss, int64_t now, char *errstr,
                             size_t n)
{
    cdc_kinesis_shard_list_t list = {0};
    ss->relist_not_before = now + RELIST_MIN_MS;
    cdc_err_t err = cdc_kinesis_list_shards(ss->kin, NULL, &list, errstr, n);
    if (err != CDC_OK) {
        bool retriable = cdc_err_retriable(err);
        if (!ss->listed_once || !retriable)
            return err;
        cdc_log_warn(MOD, "%s: %s; listing again in %d s", ss->key, errstr,
                     RELIST_MIN_MS * 5 / 1000);
        ss->next_list_ms = now + RELIST_MIN_MS * 5;
        return CDC_OK;
    }
    cdc_shard_desc_t *d = calloc(list.n ? list.n : 1, sizeof *d);
    if (!d) {
        cdc_kinesis_shard_list_clear(&list);
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: out of memory",
                           ss->key);
    }
    for (size_t i = 0; i < list.n; i++)
        d[i] = (cdc_shard_desc_t){
            .shard_id = list.v[i].shard_id,
            .parent_shard_id = list.v[i].parent_shard_id,
            .adjacent_parent_shard_id = list.v[i].adjacent_parent_shard_id,
            .starting_sequence_number = list.v[i].starting_sequence_number,
            .ending_sequence_number = list.v[i].ending_sequence_number,
        };
    err = cdc_shards_update(ss->lineage, d, list.n, true, errstr, n);
    free(d);
    for (size_t i = 0; i < ss->nshards; i++)
        ss->shards[i]->listed = false;
    size_t added = 0;
    for (size_t i = 0; err == CDC_OK && i < list.n; i++) {
        shard_t *sh = shard_find(ss, list.v[i].shard_id);
        if (!sh) {
            if (!(sh = shard_add(ss, list.v[i].shard_id, NULL))) {
                err = cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: out of "
                                  "memory", ss->key);
                break;
            }
            /* The configured start is for the stream as first seen; shards
             * that appear later are read whole. */
            sh->use_start = !ss->had_position && !ss->listed_once;
            added++;
        }
        sh->listed = true;
    }
    cdc_kinesis_shard_list_clear(&list);
    if (err != CDC_OK)
        return err;
    for (size_t i = 0; i < ss->nshards;) {
        shard_t *sh = ss->shards[i];
        if (sh->listed) {
            if (sh->ended)
                cdc_shards_mark_finished(ss->lineage, sh->id, NULL, 0);
            i++;
            continue;
        }
        if (cdc_stream_track_held(sh->track) || shard_has_batch(sh)) {
            i++; /* still delivering what was read */
            continue;
        }
        if (!sh->ended)
            cdc_log_warn(MOD, "%s: shard %s is gone from the stream (past "
                         "its retention) before it was read to its end: "
                         "records in it that were not read are lost",
                         ss->key, sh->id);
        shard_remove(ss, i);
        ss->dirty = true;
    }
    size_t readable = cdc_shards_readable(ss->lineage, NULL, 0);
    if (!ss->listed_once || added)
        cdc_log_info(MOD, "%s: %zu shard(s), %zu finished, %zu readable now",
                     ss->key, cdc_shards_count(ss->lineage),
                     cdc_shards_finished_count(ss->lineage), readable);
    ss->listed_once = true;
    ss->next_list_ms = now + RELIST_MS;
    return CDC_OK;
}

/* ---- step --------------------------------------------------------------- */

static bool shard_readable(const stream_source_t *ss, const shard_t *sh)
{
    return !sh->ended &&
           cdc_shards_state(ss->lineage, sh->id) == CDC_SHARD_READABLE;
}

static int64_t shard_ready_at(const shard_t *sh)
{
    return max64(cdc_kinesis_pacer_next_at(sh->pacer), sh->idle_until);
}

static bool need_list(const stream_source_t *ss, int64_t now)
{
    if (!ss->listed_once || now >= ss->next_list_ms)
        return true;
    return now >= ss->relist_not_before &&
           cdc_shards_need_relist(ss->lineage);
}

static cdc_err_t step_work(stream_source_t *ss, int64_t now, char *errstr,
                           size_t n)
{
    cdc_err_t err;
    if (ss->db && !ss->catalog_loaded &&
        (err = load_catalog(ss, now, errstr, n)) != CDC_OK) {
        size_t len = strlen(errstr);
        snprintf(errstr + len, n > len ? n - len : 0, " (%s waits for the "
                 "catalog's column types and keys before reading)", ss->key);
        return err;
    }
    if (now >= ss->next_expire_ms) {
        cdc_reassembly_expire(ss->reasm, now);
        ss->next_expire_ms = now + EXPIRE_EVERY_MS;
    }
    for (size_t i = 0; i < ss->nshards; i++)
        if (shard_has_batch(ss->shards[i]))
            return take_batch(ss, ss->shards[i], now, errstr, n);
    if (need_list(ss, now))
        return list_shards(ss, now, errstr, n);
    for (size_t k = 0; k < ss->nshards; k++) {
        size_t i = (ss->rr + k) % ss->nshards;
        shard_t *sh = ss->shards[i];
        if (!shard_readable(ss, sh) || shard_ready_at(sh) > now)
            continue;
        ss->rr = i + 1;
        if (!sh->iterator)
            return get_iterator(ss, sh, now, errstr, n);
        return get_records(ss, sh, now, errstr, n);
    }
    return CDC_OK;
}

static int64_t next_due(const stream_source_t *ss, int64_t now)
{
    int64_t t = now + 1000;
    if (!ss->listed_once)
        return now;
    t = min64(t, ss->next_list_ms);
    if (cdc_shards_need_relist(ss->lineage))
        t = min64(t, ss->relist_not_before);
    for (size_t i = 0; i < ss->nshards; i++) {
        const shard_t *sh = ss->shards[i];
        if (shard_has_batch(sh))
            return now;
        if (shard_readable(ss, sh))
            t = min64(t, shard_ready_at(sh));
    }
    int64_t due = cdc_reorder_next_due(ss->reorder);
    t = min64(t, due == INT64_MIN ? now : due);
    t = min64(t, ss->next_expire_ms);
    return max64(t, now);
}

static void log_stats(stream_source_t *ss, bool final)
{
    cdc_reorder_stats_t r = cdc_reorder_stats(ss->reorder);
    cdc_reassembly_stats_t a = cdc_reassembly_stats(ss->reasm);
    char line[512];
    snprintf(line, sizeof line,
             "%" PRIu64 " record(s) read (%" PRIu64 " fragments, %" PRIu64
             " rebuilt), %" PRIu64 " change(s) emitted, %" PRIu64
             " duplicate(s), %" PRIu64 " stale, %" PRIu64 " too old, %" PRIu64
             " filtered, %" PRIu64 " delete(s) without a key skipped, %" PRIu64
             " unkeyable, %" PRIu64 " malformed, %" PRIu64 " split record(s) "
             "lost, %zu held for ordering, %zu shard(s)",
             ss->st.records, ss->st.fragments, a.completed, r.emitted,
             r.duplicates, r.stale, r.too_old, r.filtered, ss->st.no_key,
             ss->st.unkeyable, ss->st.malformed, ss->st.lost, r.held,
             ss->nshards);
    if (!final && strcmp(line, ss->last_stats) == 0)
        return;
    memcpy(ss->last_stats, line, sizeof line);
    cdc_log_info(MOD, "%s: %s%s", ss->key, final ? "this run: " : "", line);
}

static cdc_err_t ss_step(cdc_source_t *s, cdc_emitter_t *e, int64_t now,
                         int64_t *next_ms, char *errstr, size_t n)
{
    stream_source_t *ss = (stream_source_t *)s;
    ss->emitter = e;
    delivered_flush(ss);
    cdc_err_t err = step_work(ss, now, errstr, n);
    if (err == CDC_OK || cdc_err_retriable(err)) {
        /* Release what the window lets go even when nothing arrived. */
        char e2[1024];
        cdc_err_t rerr = cdc_reorder_release(ss->reorder,
                                             cdc_kinesis_now_ms(), e2,
                                             sizeof e2);
        if (rerr != CDC_OK && err == CDC_OK)
            err = cdc_err_set(errstr, n, rerr, "%s", e2);
    }
    delivered_flush(ss);
    ss->emitter = NULL;
    int64_t after = cdc_kinesis_now_ms();
    *next_ms = next_due(ss, max64(now, after));
    if (after >= ss->next_stats_ms) {
        log_stats(ss, false);
        ss->next_stats_ms = after + STATS_MS;
    }
    return err;
}

/* ---- position ----------------------------------------------------------- */

static json_t *build_position(stream_source_t *ss, int64_t now)
{
    json_t *shards = json_object();
    json_t *released = json_array();
    json_t *reorder = cdc_reorder_export(ss->reorder);
    json_t *reasm = cdc_reassembly_export(ss->reasm, now);
    json_t *pos = json_object();
    bool ok = shards && released && reorder && reasm && pos;
    for (size_t i = 0; ok && i < ss->nshards; i++) {
        const shard_t *sh = ss->shards[i];
        const char *ckpt = cdc_stream_track_checkpoint(sh->track);
        json_t *j = json_object();
        ok = j != NULL;
        if (ok && ckpt)
            ok = json_object_set_new(j, "seq", json_string(ckpt)) == 0;
        else if (ok && sh->from_ms)
            ok = json_object_set_new(j, "from_ms",
                                     json_integer(sh->from_ms)) == 0;
        if (ok && sh->finished_stored)
            ok = json_object_set_new(j, "finished", json_true()) == 0;
        if (ok && json_object_size(j))
            ok = json_object_set(shards, sh->id, j) == 0;
        json_decref(j);
    }
    for (size_t k = 0; ok && k < RELEASED_MAX; k++) {
        const char *c = ss->released[(ss->released_next + k) % RELEASED_MAX];
        if (c)
            ok = json_array_append_new(released, json_string(c)) == 0;
    }
    if (ok)
        ok = json_object_set_new(pos, "v", json_integer(1)) == 0 &&
             json_object_set(pos, "shards", shards) == 0 &&
             json_object_set(pos, "reorder", reorder) == 0 &&
             json_object_set(pos, "reassembly", reasm) == 0 &&
             json_object_set(pos, "released", released) == 0;
    json_decref(shards);
    json_decref(released);
    json_decref(reorder);
    json_decref(reasm);
    if (!ok) {
        json_decref(pos);
        return NULL;
    }
    return pos;
}

static void ss_commit(cdc_source_t *s, bool for_flush, cdc_source_put_fn put,
                      void *ctx)
{
    stream_source_t *ss = (stream_source_t *)s;
    delivered_flush(ss);
    for (size_t i = 0; i < ss->nshards; i++) {
        shard_t *sh = ss->shards[i];
        if (cdc_stream_track_advance(sh->track, release_chunk, ss))
            ss->dirty = true;
        if (sh->ended && !sh->finished_stored && !shard_has_batch(sh) &&
            cdc_stream_track_held(sh->track) == 0) {
            sh->finished_stored = true;
            ss->dirty = true;
        }
    }
    if (!ss->dirty)
        return;
    int64_t now = cdc_kinesis_now_ms();
    if (!for_flush && ss->outstanding && now - ss->last_put_ms < PUT_MIN_MS)
        return;
    json_t *pos = build_position(ss, now);
    if (!pos) {
        cdc_log_error(MOD, "%s: out of memory building the position; it is "
                      "stored later", ss->key);
        return;
    }
    put(ctx, ss->key, pos);
    json_decref(pos);
    ss->dirty = false;
    ss->last_put_ms = now;
}

/* ---- life cycle --------------------------------------------------------- */

static void ss_destroy(cdc_source_t *s)
{
    stream_source_t *ss = (stream_source_t *)s;
    if (!ss)
        return;
    if (ss->ready)
        log_stats(ss, true);
    for (deliv_t *d = ss->live, *nx; d; d = nx) {
        nx = d->next;
        free(d);
    }
    for (size_t i = 0; i < ss->nshards; i++)
        shard_free(ss->shards[i]);
    free(ss->shards);
    for (size_t i = 0; i < RELEASED_MAX; i++)
        free(ss->released[i]);
    free(ss->delivered);
    cdc_reorder_destroy(ss->reorder);
    cdc_reassembly_destroy(ss->reasm);
    cdc_shards_destroy(ss->lineage);
    cdc_stream_schema_destroy(ss->schema);
    cdc_kinesis_destroy(ss->kin);
    free(ss->key);
    free(ss);
}

static const cdc_source_ops_t stream_ops = {
    .step = ss_step,
    .sent = ss_sent,
    .done = ss_done,
    .commit = ss_commit,
    .backlog_estimate = NULL,
    .destroy = ss_destroy,
};

static cdc_err_t creds_cb(void *ud, const cdc_aws_creds_t **out, char *errstr,
                          size_t n)
{
    if (!ud)
        return cdc_err_set(errstr, n, CDC_ERR_CREDENTIALS,
                           "no AWS credential chain");
    return cdc_cred_chain_get(ud, out, errstr, n);
}

/*
 * "arn:aws:kinesis:us-east-1:123456789012:stream/name": region and name
 * into the buffers. False when arn is not a Kinesis stream ARN.
 */
static bool parse_arn(const char *arn, char *region, size_t rn, char *name,
                      size_t nn)
{
    const char *f[6];
    const char *p = arn;
    for (int i = 0; i < 6; i++) {
        f[i] = p;
        if (i < 5) {
            p = strchr(p, ':');
            if (!p)
                return false;
            p++;
        }
    }
    if (strncmp(arn, "arn:", 4) != 0 || strncmp(f[2], "kinesis:", 8) != 0 ||
        strncmp(f[5], "stream/", 7) != 0 || !f[5][7] || f[4] - f[3] < 2)
        return false;
    snprintf(region, rn, "%.*s", (int)(f[4] - f[3] - 1), f[3]);
    snprintf(name, nn, "%s", f[5] + 7);
    return true;
}

/* Epoch milliseconds, or ISO 8601 UTC: 2026-07-10T10:00:00[.123]Z. */
static bool parse_timestamp(const char *s, int64_t *ms)
{
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    if (p != s && !*p && p - s <= 15) {
        *ms = strtoll(s, NULL, 10);
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19)
        return false;
    p = s + used;
    int frac = 0, digits = 0;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (!digits)
            return false;
        for (int d = digits; d < 3; d++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return false;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *ms = (int64_t)t * 1000 + frac;
    return true;
}

typedef struct {
    stream_source_t *ss;
    cdc_err_t err;
    char *errstr;
    size_t n;
} allow_ctx_t;

static void allow_table(const char *item, void *ctx)
{
    allow_ctx_t *a = ctx;
    if (a->err != CDC_OK)
        return;
    const char *dot = strchr(item, '.');
    char schema[256];
    const char *table = item;
    if (dot) {
        snprintf(schema, sizeof schema, "%.*s", (int)(dot - item), item);
        table = dot + 1;
    } else {
        snprintf(schema, sizeof schema, "%s",
                 cdc_config_str(a->ss->cfg, CDC_KEY_SCHEMA));
    }
    if (cdc_reorder_allow_table(a->ss->reorder, schema, table) != CDC_OK)
        a->err = cdc_err_set(a->errstr, a->n, CDC_ERR_NOMEM,
                             "out of memory");
}

static cdc_err_t restore(stream_source_t *ss, const json_t *pos,
                         char *errstr, size_t n)
{
    const json_t *v = json_object_get(pos, "v");
    const json_t *shards = json_object_get(pos, "shards");
    const json_t *reorder = json_object_get(pos, "reorder");
    const json_t *reasm = json_object_get(pos, "reassembly");
    const json_t *released = json_object_get(pos, "released");
    char e[512];
    if (!json_is_object(pos) || json_integer_value(v) != 1 ||
        !json_is_object(shards) || !json_is_object(reorder) ||
        !json_is_object(reasm) || (released && !json_is_array(released)))
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "offset entry %s is not "
                           "a stream position (version 1 with shards, "
                           "reorder, reassembly); remove it from %s to start "
                           "afresh", ss->key,
                           cdc_config_str(ss->cfg, CDC_KEY_OFFSET_FILE));
    const char *id;
    const json_t *j;
    json_object_foreach((json_t *)shards, id, j) {
        const json_t *seq = json_object_get(j, "seq");
        const json_t *from = json_object_get(j, "from_ms");
        const json_t *fin = json_object_get(j, "finished");
        if (!json_is_object(j) ||
            (seq && (!json_is_string(seq) ||
                     !cdc_kinesis_seq_valid(json_string_value(seq)))) ||
            (from && !json_is_integer(from)) || (fin && !json_is_boolean(fin)))
            return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "offset entry %s: "
                               "shard %s has a malformed position "
                               "(\"seq\": decimal string, \"from_ms\": "
                               "integer, \"finished\": boolean)", ss->key, id);
        shard_t *sh = shard_add(ss, id, seq ? json_string_value(seq) : NULL);
        if (!sh)
            return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        sh->from_ms = from ? json_integer_value(from) : 0;
        sh->ended = sh->finished_stored = json_is_true(fin);
    }
    if (cdc_reorder_import(ss->reorder, reorder, e, sizeof e) != CDC_OK)
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "offset entry %s: %s",
                           ss->key, e);
    if (cdc_reassembly_import(ss->reasm, reasm, cdc_kinesis_now_ms(), e,
                              sizeof e) != CDC_OK)
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "offset entry %s: %s",
                           ss->key, e);
    size_t i;
    json_array_foreach((json_t *)released, i, j)
        if (json_is_string(j))
            released_add(ss, json_string_value(j));
    ss->had_position = true;
    return CDC_OK;
}

static cdc_err_t setup(stream_source_t *ss, const cdc_config_t *c,
                       const cdc_offset_store_t *offsets,
                       cdc_cred_chain_t *chain, char *errstr, size_t n)
{
    const char *arn = cdc_config_str(c, CDC_KEY_STREAM_ARN);
    const char *name = cdc_config_str(c, CDC_KEY_STREAM_NAME);
    char arn_region[64] = "", arn_name[256] = "";
    if (!arn && !name)
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "source.mode=stream "
                           "needs the Kinesis stream DSQL's CDC writes to: "
                           "set stream.kinesis.stream.arn (or "
                           "stream.kinesis.stream.name)");
    if (arn && !parse_arn(arn, arn_region, sizeof arn_region, arn_name,
                          sizeof arn_name))
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "stream.kinesis.stream."
                           "arn (%s): \"%s\" is not a Kinesis stream ARN "
                           "(arn:aws:kinesis:<region>:<account>:stream/"
                           "<name>)", cdc_config_source(c, CDC_KEY_STREAM_ARN),
                           arn);
    if (arn && name && strcmp(name, arn_name) != 0)
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "stream.kinesis.stream."
                           "name \"%s\" and the stream of stream.kinesis."
                           "stream.arn (\"%s\") differ; set one of them",
                           name, arn_name);
    if (!name)
        name = arn_name;

    const char *cfg_region = cdc_config_str(c, CDC_KEY_REGION);
    char region[64], e[512];
    if (cdc_aws_region_resolve(cfg_region ? cfg_region
                               : arn_region[0] ? arn_region : NULL,
                               NULL, region, sizeof region, e, sizeof e) !=
        CDC_OK)
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "source.mode=stream: no "
                           "region for Kinesis: set dsql.region, use a stream "
                           "ARN, or set AWS_REGION (%s)", e);

    size_t klen = strlen(name) + 8;
    if (!(ss->key = malloc(klen)))
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
    snprintf(ss->key, klen, "stream:%s", name);
    ss->base.name = ss->key;

    const char *endpoint = cdc_config_str(c, CDC_KEY_STREAM_ENDPOINT);
    cdc_kinesis_opts_t ko = {
        .region = region,
        .stream_name = arn ? NULL : name,
        .stream_arn = arn,
        .endpoint_url = endpoint,
        .creds = creds_cb,
        .creds_ud = chain,
    };
    if (!(ss->kin = cdc_kinesis_new(&ko, e, sizeof e)))
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "%s%s: %s",
                           endpoint ? "stream.kinesis.endpoint " : "",
                           endpoint ? endpoint : "Kinesis client", e);

    const char *start = cdc_config_str(c, CDC_KEY_STREAM_START_POSITION);
    const char *ts = cdc_config_str(c, CDC_KEY_STREAM_START_TIMESTAMP);
    if (strcasecmp(start, "latest") == 0) {
        ss->start_type = CDC_KIN_ITER_LATEST;
    } else if (strcasecmp(start, "at_timestamp") == 0) {
        ss->start_type = CDC_KIN_ITER_AT_TIMESTAMP;
        if (!ts || !parse_timestamp(ts, &ss->start_ts_ms))
            return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "stream.start."
                               "position=at_timestamp needs stream.start."
                               "timestamp as ISO 8601 UTC (2026-07-10T10:00:"
                               "00Z) or epoch milliseconds%s%s%s",
                               ts ? "; got \"" : "", ts ? ts : "",
                               ts ? "\"" : "");
    } else {
        ss->start_type = CDC_KIN_ITER_TRIM_HORIZON;
    }
    ss->idle_ms = cdc_config_int(c, CDC_KEY_POLL_INTERVAL_MS);

    cdc_reorder_opts_t ro = {
        .window_ms = cdc_config_int(c, CDC_KEY_STREAM_REORDER_WINDOW_MS),
        .track_delivery = true,
    };
    ss->reorder = cdc_reorder_new(&ro, on_change, ss);
    ss->reasm = cdc_reassembly_new(NULL, on_reasm_drop, ss);
    ss->lineage = cdc_shards_new();
    ss->schema = cdc_stream_schema_new();
    if (!ss->reorder || !ss->reasm || !ss->lineage || !ss->schema)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
    cdc_err_t err = cdc_stream_schema_set_keys(
        ss->schema, cdc_config_str(c, CDC_KEY_MESSAGE_KEY_COLUMNS),
        cdc_config_str(c, CDC_KEY_SCHEMA), errstr, n);
    if (err != CDC_OK)
        return err;
    cdc_stream_schema_each(ss->schema, apply_table, ss);
    allow_ctx_t a = {ss, CDC_OK, errstr, n};
    cdc_config_list_each(c, CDC_KEY_TABLES, allow_table, &a);
    if (a.err != CDC_OK)
        return a.err;

    bool cfg_keys = cdc_config_str(c, CDC_KEY_MESSAGE_KEY_COLUMNS) != NULL;
    const char *keys_from = cfg_keys && ss->db ? "message.key.columns, then "
                                                 "the catalog"
                            : cfg_keys ? "message.key.columns"
                            : ss->db   ? "the catalog"
                                       : "nowhere (no message.key.columns, "
                                         "no database): tables pass "
                                         "unkeyed";
    const json_t *pos = cdc_offsets_get(offsets, ss->key);
    if (pos && (err = restore(ss, pos, errstr, n)) != CDC_OK)
        return err;
    cdc_log_info(MOD, "%s: region %s, endpoint %s, %s, reorder window %lld "
                 "ms, keys from %s", ss->key, region,
                 cdc_kinesis_endpoint(ss->kin),
                 pos ? "resuming from the stored position"
                     : ss->start_type == CDC_KIN_ITER_LATEST ? "starting at "
                                                               "the latest "
                                                               "records"
                     : ss->start_type == CDC_KIN_ITER_AT_TIMESTAMP
                         ? "starting at stream.start.timestamp"
                         : "starting at the oldest records kept",
                 (long long)ro.window_ms, keys_from);
    return CDC_OK;
}

cdc_source_t *cdc_stream_source_new(const cdc_config_t *c,
                                    const cdc_offset_store_t *offsets,
                                    cdc_cred_chain_t *chain, cdc_db_t *db,
                                    char *errstr, size_t n)
{
    stream_source_t *ss = calloc(1, sizeof *ss);
    if (!ss) {
        cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ss->base.ops = &stream_ops;
    ss->base.name = "stream";
    ss->cfg = c;
    ss->db = db;
    if (setup(ss, c, offsets, chain, errstr, n) != CDC_OK) {
        ss_destroy(&ss->base);
        return NULL;
    }
    ss->ready = true;
    ss->next_stats_ms = cdc_kinesis_now_ms() + STATS_MS;
    return &ss->base;
}
