/*
 * reassembly.c - fragments + main records -> full records (see
 * reassembly.h).
 *
 * Split records are rare (an image above 9 MiB), so the chunks held are few
 * and live in flat arrays searched linearly; a chunk's fragments are kept
 * sorted by index. Fragment text stays in the jansson string it was parsed
 * into (one reference), so holding a fragment copies nothing.
 */
#include "source/reassembly.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define DEFAULT_MAX_BYTES ((size_t)256 << 20)
#define DEFAULT_MAX_CHUNKS 1024
#define DEFAULT_MAX_AGE_MS (15 * 60 * 1000)

/* ---- CRC32C ------------------------------------------------------------- */

/* Byte-wise table for the reflected polynomial 0x82F63B78: entry i is the
 * CRC register after shifting byte i through eight steps. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t cdc_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- state -------------------------------------------------------------- */

typedef struct {
    uint32_t index;
    json_t *data; /* a jansson string; one reference held */
    uint64_t pos;
} frag_t;

typedef struct main_rec main_t;

typedef struct {
    char *id;
    int64_t last_ms;   /* when a piece was last added */
    frag_t *frags;     /* sorted by index, indexes unique */
    size_t nfrags, cap;
    size_t bytes;
    uint32_t total;    /* from the main record; 0 while unknown */
    uint32_t crc;
    main_t *main;      /* waiting main record, NULL if none */
    bool complete;     /* rebuilt; kept until released */
    bool pinned;       /* in use by the current call: never evicted */
} chunk_t;

struct main_rec {
    cdc_cdcrec_t rec;
    uint64_t pos;
    chunk_t *chunk[2]; /* [0] before, [1] after; NULL when inline */
};

struct cdc_reassembly {
    cdc_reassembly_limits_t lim;
    cdc_reassembly_drop_fn drop;
    void *opaque;
    chunk_t **chunks;
    size_t nchunks, cap;
    size_t nmains;
    size_t bytes;
    cdc_reassembly_stats_t st;
};

const char *cdc_reasm_drop_name(cdc_reasm_drop_t why)
{
    switch (why) {
    case CDC_REASM_DROP_EXPIRED: return "expired";
    case CDC_REASM_DROP_EVICTED: return "evicted";
    case CDC_REASM_DROP_CORRUPT: return "corrupt";
    case CDC_REASM_DROP_RELEASED: return "released";
    }
    return "?";
}

cdc_reassembly_t *cdc_reassembly_new(const cdc_reassembly_limits_t *limits,
                                     cdc_reassembly_drop_fn drop,
                                     void *opaque)
{
    cdc_reassembly_t *ra = calloc(1, sizeof(*ra));
    if (!ra)
        return NULL;
    if (limits)
        ra->lim = *limits;
    if (!ra->lim.max_bytes)
        ra->lim.max_bytes = DEFAULT_MAX_BYTES;
    if (!ra->lim.max_chunks)
        ra->lim.max_chunks = DEFAULT_MAX_CHUNKS;
    if (ra->lim.max_age_ms <= 0)
        ra->lim.max_age_ms = DEFAULT_MAX_AGE_MS;
    ra->drop = drop;
    ra->opaque = opaque;
    return ra;
}

static void chunk_free(chunk_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nfrags; i++)
        json_decref(c->frags[i].data);
    free(c->frags);
    free(c->id);
    free(c);
}

static void main_free(main_t *m)
{
    if (!m)
        return;
    cdc_cdcrec_clear(&m->rec);
    free(m);
}

void cdc_reassembly_destroy(cdc_reassembly_t *ra)
{
    if (!ra)
        return;
    for (size_t i = 0; i < ra->nchunks; i++) {
        chunk_t *c = ra->chunks[i];
        if (c->main) {
            main_t *m = c->main;
            for (int k = 0; k < 2; k++)
                if (m->chunk[k])
                    m->chunk[k]->main = NULL;
            main_free(m);
        }
        chunk_free(c);
    }
    free(ra->chunks);
    free(ra);
}

cdc_reassembly_stats_t cdc_reassembly_stats(const cdc_reassembly_t *ra)
{
    cdc_reassembly_stats_t st = ra->st;
    st.chunks = ra->nchunks;
    st.pending_mains = ra->nmains;
    st.bytes = ra->bytes;
    return st;
}

void cdc_reassembly_out_init(cdc_reassembly_out_t *o)
{
    memset(o, 0, sizeof(*o));
    cdc_cdcrec_init(&o->rec);
}

void cdc_reassembly_out_clear(cdc_reassembly_out_t *o)
{
    cdc_cdcrec_clear(&o->rec);
    free(o->frag_pos);
    cdc_reassembly_out_init(o);
}

static chunk_t *chunk_find(const cdc_reassembly_t *ra, const char *id)
{
    for (size_t i = 0; i < ra->nchunks; i++)
        if (strcmp(ra->chunks[i]->id, id) == 0)
            return ra->chunks[i];
    return NULL;
}

/* Unlink c from the set and free it (not its main). */
static void chunk_remove(cdc_reassembly_t *ra, chunk_t *c)
{
    for (size_t i = 0; i < ra->nchunks; i++) {
        if (ra->chunks[i] == c) {
            memmove(&ra->chunks[i], &ra->chunks[i + 1],
                    (ra->nchunks - i - 1) * sizeof(*ra->chunks));
            ra->nchunks--;
            break;
        }
    }
    ra->bytes -= c->bytes;
    chunk_free(c);
}

/*
 * Drop chunk c, and its main record with the main's other chunk: report
 * every position held (none for RELEASED) and free them.
 */
static void drop_chunk(cdc_reassembly_t *ra, chunk_t *c, cdc_reasm_drop_t why)
{
    chunk_t *group[2] = {c, NULL};
    main_t *m = c->main;
    if (m) {
        for (int k = 0; k < 2; k++)
            if (m->chunk[k] && m->chunk[k] != c)
                group[1] = m->chunk[k];
        if (ra->drop && why != CDC_REASM_DROP_RELEASED)
            ra->drop(ra->opaque, m->pos, true, why);
        main_free(m);
        ra->nmains--;
    }
    for (int g = 0; g < 2; g++) {
        chunk_t *x = group[g];
        if (!x)
            continue;
        if (ra->drop && why != CDC_REASM_DROP_RELEASED)
            for (size_t i = 0; i < x->nfrags; i++)
                ra->drop(ra->opaque, x->frags[i].pos, false, why);
        x->main = NULL;
        chunk_remove(ra, x);
    }
}

static void log_drop(const chunk_t *c, cdc_reasm_drop_t why, int64_t age_ms)
{
    if (c->main) {
        char what[240];
        cdc_cdcrec_describe(&c->main->rec, what, sizeof(what));
        cdc_log_error("reassembly", "change lost: split record %s %s after "
                      "%" PRId64 " ms with %zu of %" PRIu32 " fragments of "
                      "chunk %s; it is rebuilt only if Kinesis delivers it "
                      "again (raise the reassembly limits if this repeats)",
                      what, cdc_reasm_drop_name(why), age_ms, c->nfrags,
                      c->total, c->id);
    } else if (!c->complete) {
        cdc_log_warn("reassembly", "%zu fragment(s) of chunk %s %s after "
                     "%" PRId64 " ms: their main record never arrived",
                     c->nfrags, c->id, cdc_reasm_drop_name(why), age_ms);
    }
}

/*
 * Make room for need more bytes and add_chunks more chunks, dropping rebuilt
 * chunks first, then the least recently active; never pinned ones.
 */
static void make_room(cdc_reassembly_t *ra, size_t need, size_t add_chunks,
                      int64_t now_ms)
{
    while (ra->nchunks &&
           (ra->bytes + need > ra->lim.max_bytes ||
            ra->nchunks + add_chunks > ra->lim.max_chunks)) {
        chunk_t *victim = NULL;
        for (size_t i = 0; i < ra->nchunks; i++) {
            chunk_t *c = ra->chunks[i];
            if (c->pinned)
                continue;
            if (!victim || (c->complete && !victim->complete) ||
                (c->complete == victim->complete &&
                 c->last_ms < victim->last_ms))
                victim = c;
        }
        if (!victim)
            return;
        log_drop(victim, CDC_REASM_DROP_EVICTED, now_ms - victim->last_ms);
        ra->st.evicted++;
        drop_chunk(ra, victim, CDC_REASM_DROP_EVICTED);
    }
}

/* Pin c (and the other chunk of its main record) against eviction. */
static void pin(chunk_t *c, bool on)
{
    if (!c)
        return;
    c->pinned = on;
    if (c->main)
        for (int k = 0; k < 2; k++)
            if (c->main->chunk[k])
                c->main->chunk[k]->pinned = on;
}

static chunk_t *chunk_new(cdc_reassembly_t *ra, const char *id, int64_t now)
{
    if (ra->nchunks == ra->cap) {
        size_t cap = ra->cap ? ra->cap * 2 : 8;
        chunk_t **p = realloc(ra->chunks, cap * sizeof(*p));
        if (!p)
            return NULL;
        ra->chunks = p;
        ra->cap = cap;
    }
    chunk_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->id = strdup(id))) {
        free(c);
        return NULL;
    }
    c->last_ms = now;
    ra->chunks[ra->nchunks++] = c;
    return c;
}

/* Index of the fragment with index idx, or where it would go. */
static size_t frag_slot(const chunk_t *c, uint32_t idx, bool *found)
{
    size_t lo = 0, hi = c->nfrags;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->frags[mid].index < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < c->nfrags && c->frags[lo].index == idx;
    return lo;
}

static bool same_data(const json_t *a, const json_t *b)
{
    size_t n = json_string_length(a);
    return n == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), n) == 0;
}

static cdc_err_t frag_insert(cdc_reassembly_t *ra, chunk_t *c, size_t slot,
                             uint32_t index, json_t *data, uint64_t pos)
{
    if (c->nfrags == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        frag_t *p = realloc(c->frags, cap * sizeof(*p));
        if (!p)
            return CDC_ERR_NOMEM;
        c->frags = p;
        c->cap = cap;
    }
    memmove(&c->frags[slot + 1], &c->frags[slot],
            (c->nfrags - slot) * sizeof(*c->frags));
    c->frags[slot] = (frag_t){index, json_incref(data), pos};
    c->nfrags++;
    size_t len = json_string_length(data);
    c->bytes += len;
    ra->bytes += len;
    return CDC_OK;
}

static bool chunk_full(const chunk_t *c)
{
    return c->total && c->nfrags == c->total;
}

/*
 * If every chunk of m is full: rebuild the record into out, mark its chunks
 * complete. On a CRC or JSON failure drop the whole record as CORRUPT.
 */
static cdc_err_t try_complete(cdc_reassembly_t *ra, main_t *m,
                              cdc_reasm_result_t *res,
                              cdc_reassembly_out_t *out, char *errstr,
                              size_t n)
{
    size_t nfrag = 0;
    for (int k = 0; k < 2; k++) {
        if (m->chunk[k] && !chunk_full(m->chunk[k])) {
            *res = CDC_REASM_HELD;
            return CDC_OK;
        }
        if (m->chunk[k])
            nfrag += m->chunk[k]->nfrags;
    }

    char what[240];
    cdc_cdcrec_describe(&m->rec, what, sizeof(what));
    uint64_t *fpos = malloc(nfrag * sizeof(*fpos));
    if (!fpos)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "rebuilding %s: %s",
                           what, cdc_err_str(CDC_ERR_NOMEM));
    size_t np = 0;
    cdc_err_t err = CDC_OK;
    chunk_t *bad = NULL;
    for (int k = 0; k < 2 && err == CDC_OK; k++) {
        chunk_t *c = m->chunk[k];
        if (!c)
            continue;
        char *text = malloc(c->bytes ? c->bytes : 1);
        if (!text) {
            err = cdc_err_set(errstr, n, CDC_ERR_NOMEM, "rebuilding %s: %s",
                              what, cdc_err_str(CDC_ERR_NOMEM));
            break;
        }
        size_t off = 0;
        for (size_t i = 0; i < c->nfrags; i++) {
            size_t len = json_string_length(c->frags[i].data);
            memcpy(text + off, json_string_value(c->frags[i].data), len);
            off += len;
            fpos[np++] = c->frags[i].pos;
        }
        uint32_t crc = cdc_crc32c(0, text, off);
        if (crc != c->crc) {
            bad = c;
            err = cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: %s image of "
                              "chunk %s (%" PRIu32 " fragments, %zu bytes) "
                              "fails its CRC32C: computed %" PRIu32
                              ", record says %" PRIu32, what,
                              k ? "after" : "before", c->id, c->total, off,
                              crc, c->crc);
        } else if ((err = cdc_cdcrec_set_image(&m->rec, k == 1, text, off,
                                               errstr, n)) != CDC_OK) {
            if (err == CDC_ERR_PARSE)
                bad = c;
        }
        free(text);
    }
    if (err != CDC_OK) {
        free(fpos);
        if (bad) { /* the caller reports errstr */
            ra->st.corrupt++;
            drop_chunk(ra, bad, CDC_REASM_DROP_CORRUPT);
        }
        return err;
    }

    cdc_reassembly_out_init(out);
    out->rec = m->rec;
    cdc_cdcrec_init(&m->rec);
    out->pos = m->pos;
    out->frag_pos = fpos;
    out->nfrag_pos = np;
    for (int k = 0; k < 2; k++) {
        if (m->chunk[k]) {
            m->chunk[k]->complete = true;
            m->chunk[k]->main = NULL;
        }
    }
    main_free(m);
    ra->nmains--;
    ra->st.completed++;
    *res = CDC_REASM_COMPLETE;
    return CDC_OK;
}

static cdc_err_t add_fragment(cdc_reassembly_t *ra, cdc_cdcrec_t *rec,
                              uint64_t pos, int64_t now_ms,
                              cdc_reasm_result_t *res,
                              cdc_reassembly_out_t *out, char *errstr,
                              size_t n)
{
    const char *id = rec->frag.chunk_id;
    uint32_t index = rec->frag.index;
    size_t len = rec->frag.len;

    if (len > ra->lim.max_bytes)
        return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "fragment %s[%" PRIu32
                           "] holds %zu bytes, more than the reassembly "
                           "limit of %zu bytes: raise the limit", id, index,
                           len, ra->lim.max_bytes);
    chunk_t *c = chunk_find(ra, id);
    if (c) {
        if (c->total && index >= c->total) {
            ra->st.conflicts++;
            return cdc_err_set(errstr, n, CDC_ERR_PARSE, "fragment %s[%"
                               PRIu32 "] is beyond the %" PRIu32 " fragments "
                               "its main record announces", id, index,
                               c->total);
        }
        bool found;
        size_t slot = frag_slot(c, index, &found);
        if (found) {
            if (same_data(c->frags[slot].data, rec->frag.json)) {
                ra->st.duplicates++;
                *res = CDC_REASM_DUPLICATE;
                return CDC_OK;
            }
            ra->st.conflicts++;
            return cdc_err_set(errstr, n, CDC_ERR_PARSE, "fragment %s[%"
                               PRIu32 "] arrived again with other data (%zu "
                               "bytes, held %zu): rejected", id, index, len,
                               json_string_length(c->frags[slot].data));
        }
        if (c->bytes + len > ra->lim.max_bytes)
            return cdc_err_set(errstr, n, CDC_ERR_CONFIG, "chunk %s would "
                               "hold more than the reassembly limit of %zu "
                               "bytes: raise the limit", id,
                               ra->lim.max_bytes);
    }
    pin(c, true);
    make_room(ra, len, c ? 0 : 1, now_ms);
    pin(c, false);
    if (!c && !(c = chunk_new(ra, id, now_ms)))
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "fragment %s[%" PRIu32
                           "]: %s", id, index, cdc_err_str(CDC_ERR_NOMEM));
    bool found;
    size_t slot = frag_slot(c, index, &found);
    if (frag_insert(ra, c, slot, index, rec->frag.json, pos) != CDC_OK)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "fragment %s[%" PRIu32
                           "]: %s", id, index, cdc_err_str(CDC_ERR_NOMEM));
    c->last_ms = now_ms;
    ra->st.fragments++;
    if (c->main)
        return try_complete(ra, c->main, res, out, errstr, n);
    *res = CDC_REASM_HELD;
    return CDC_OK;
}

static bool same_ref(const cdc_cdcrec_chunkref_t *a,
                     const cdc_cdcrec_chunkref_t *b)
{
    if (a->present != b->present)
        return false;
    return !a->present ||
           (strcmp(a->chunk_id, b->chunk_id) == 0 &&
            a->total_fragments == b->total_fragments && a->crc32c == b->crc32c);
}

static bool same_main(const cdc_cdcrec_t *a, const cdc_cdcrec_t *b)
{
    return a->source.ts_ns == b->source.ts_ns &&
           strcmp(a->source.tx_id, b->source.tx_id) == 0 &&
           strcmp(a->source.schema, b->source.schema) == 0 &&
           strcmp(a->source.table, b->source.table) == 0 &&
           strcmp(a->op_str, b->op_str) == 0 &&
           same_ref(&a->chunk_before, &b->chunk_before) &&
           same_ref(&a->chunk_after, &b->chunk_after);
}

static cdc_err_t add_main(cdc_reassembly_t *ra, cdc_cdcrec_t *rec,
                          uint64_t pos, int64_t now_ms,
                          cdc_reasm_result_t *res, cdc_reassembly_out_t *out,
                          char *errstr, size_t n)
{
    const cdc_cdcrec_chunkref_t *refs[2] = {&rec->chunk_before,
                                            &rec->chunk_after};
    chunk_t *have[2] = {NULL, NULL};
    char what[240];
    cdc_cdcrec_describe(rec, what, sizeof(what));

    /* Check everything before changing anything. */
    size_t new_chunks = 0;
    for (int k = 0; k < 2; k++) {
        if (!refs[k]->present)
            continue;
        chunk_t *c = have[k] = chunk_find(ra, refs[k]->chunk_id);
        if (!c) {
            new_chunks++;
            continue;
        }
        if (c->main || c->complete) {
            const cdc_cdcrec_t *other = c->main ? &c->main->rec : NULL;
            if (c->complete || same_main(other, rec)) {
                /* The main record again: its record is held or was
                 * already rebuilt. */
                ra->st.duplicates++;
                *res = CDC_REASM_DUPLICATE;
                return CDC_OK;
            }
            char owner[240];
            cdc_cdcrec_describe(other, owner, sizeof(owner));
            ra->st.conflicts++;
            return cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s names chunk %s, "
                               "which %s already names: rejected", what,
                               c->id, owner);
        }
        if (c->nfrags && c->frags[c->nfrags - 1].index >=
                             refs[k]->total_fragments) {
            ra->st.conflicts++;
            return cdc_err_set(errstr, n, CDC_ERR_PARSE, "%s: chunk %s has "
                               "fragment %" PRIu32 " but the record announces "
                               "%" PRIu32 " fragments: rejected", what, c->id,
                               c->frags[c->nfrags - 1].index,
                               refs[k]->total_fragments);
        }
    }

    main_t *m = calloc(1, sizeof(*m));
    if (!m)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: %s", what,
                           cdc_err_str(CDC_ERR_NOMEM));
    pin(have[0], true);
    pin(have[1], true);
    make_room(ra, 0, new_chunks, now_ms);
    pin(have[0], false);
    pin(have[1], false);
    for (int k = 0; k < 2; k++) {
        if (!refs[k]->present)
            continue;
        if (!have[k] && !(have[k] = chunk_new(ra, refs[k]->chunk_id,
                                              now_ms))) {
            for (int j = 0; j < k; j++)
                if (have[j] && have[j]->nfrags == 0 && !have[j]->main)
                    chunk_remove(ra, have[j]);
            free(m);
            return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "%s: %s", what,
                               cdc_err_str(CDC_ERR_NOMEM));
        }
    }
    m->rec = *rec;
    cdc_cdcrec_init(rec);
    refs[0] = &m->rec.chunk_before; /* rec was moved */
    refs[1] = &m->rec.chunk_after;
    m->pos = pos;
    for (int k = 0; k < 2; k++) {
        if (!have[k])
            continue;
        m->chunk[k] = have[k];
        have[k]->main = m;
        have[k]->total = refs[k]->total_fragments;
        have[k]->crc = refs[k]->crc32c;
        have[k]->last_ms = now_ms;
    }
    ra->nmains++;
    return try_complete(ra, m, res, out, errstr, n);
}

cdc_err_t cdc_reassembly_add(cdc_reassembly_t *ra, cdc_cdcrec_t *rec,
                             uint64_t pos, int64_t now_ms,
                             cdc_reasm_result_t *res,
                             cdc_reassembly_out_t *out, char *errstr,
                             size_t errstr_size)
{
    cdc_err_t err;
    *res = CDC_REASM_HELD;
    if (!rec->root)
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                          "reassembly: empty record");
    else if (rec->type == CDC_CDCREC_FRAGMENT)
        err = add_fragment(ra, rec, pos, now_ms, res, out, errstr,
                           errstr_size);
    else if (rec->type == CDC_CDCREC_CHUNKED)
        err = add_main(ra, rec, pos, now_ms, res, out, errstr, errstr_size);
    else
        err = cdc_err_set(errstr, errstr_size, CDC_ERR_INVALID_ARG,
                          "reassembly: a full record needs no reassembly");
    /* Whatever was kept holds its own references. */
    cdc_cdcrec_clear(rec);
    return err;
}

void cdc_reassembly_release(cdc_reassembly_t *ra, const char *chunk_id)
{
    chunk_t *c = chunk_find(ra, chunk_id);
    if (c && c->complete)
        drop_chunk(ra, c, CDC_REASM_DROP_RELEASED);
}

size_t cdc_reassembly_expire(cdc_reassembly_t *ra, int64_t now_ms)
{
    size_t dropped = 0;
    for (size_t i = 0; i < ra->nchunks;) {
        chunk_t *c = ra->chunks[i];
        int64_t age = now_ms - c->last_ms;
        /* A main record's chunks expire together, by the latest activity. */
        if (c->main)
            for (int k = 0; k < 2; k++)
                if (c->main->chunk[k] &&
                    now_ms - c->main->chunk[k]->last_ms < age)
                    age = now_ms - c->main->chunk[k]->last_ms;
        if (age <= ra->lim.max_age_ms) {
            i++;
            continue;
        }
        log_drop(c, CDC_REASM_DROP_EXPIRED, age);
        ra->st.expired++;
        dropped++;
        drop_chunk(ra, c, CDC_REASM_DROP_EXPIRED);
        i = 0; /* the array shifted, possibly by two */
    }
    return dropped;
}

json_t *cdc_reassembly_export(const cdc_reassembly_t *ra, int64_t now_ms)
{
    json_t *chunks = json_array();
    json_t *root = json_pack("{s:i, s:o}", "v", 1, "chunks", chunks);
    if (!root)
        return NULL;
    for (size_t i = 0; i < ra->nchunks; i++) {
        const chunk_t *c = ra->chunks[i];
        if (c->nfrags == 0)
            continue;
        json_t *frags = json_array();
        json_t *jc = json_pack("{s:s, s:I, s:o}", "chunk_id", c->id, "age_ms",
                               (json_int_t)(now_ms - c->last_ms), "fragments",
                               frags);
        if (!jc || json_array_append_new(chunks, jc) != 0) {
            json_decref(root);
            return NULL;
        }
        for (size_t k = 0; k < c->nfrags; k++) {
            json_t *jf = json_pack("{s:I, s:O}", "index",
                                   (json_int_t)c->frags[k].index, "data",
                                   c->frags[k].data);
            if (!jf || json_array_append_new(frags, jf) != 0) {
                json_decref(root);
                return NULL;
            }
        }
    }
    return root;
}

cdc_err_t cdc_reassembly_import(cdc_reassembly_t *ra, const json_t *state,
                                int64_t now_ms, char *errstr,
                                size_t errstr_size)
{
    json_t *chunks = json_object_get(state, "chunks");
    json_t *v = json_object_get(state, "v");
    if (!json_is_object(state) || !json_is_integer(v) ||
        json_integer_value(v) != 1 || !json_is_array(chunks))
        return cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE, "reassembly "
                           "state: expected {\"v\":1,\"chunks\":[...]}");
    size_t i, k;
    json_t *jc, *jf;
    /* Validate all of it first, so a bad state adds nothing. */
    json_array_foreach(chunks, i, jc) {
        json_t *id = json_object_get(jc, "chunk_id");
        json_t *age = json_object_get(jc, "age_ms");
        json_t *frags = json_object_get(jc, "fragments");
        if (!json_is_string(id) || json_string_length(id) == 0 ||
            !json_is_integer(age) || !json_is_array(frags))
            return cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                               "reassembly state: chunk %zu needs chunk_id, "
                               "age_ms and fragments", i);
        json_array_foreach(frags, k, jf) {
            json_t *idx = json_object_get(jf, "index");
            if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                json_integer_value(idx) >= CDC_CDCREC_MAX_FRAGMENTS ||
                !json_is_string(json_object_get(jf, "data")))
                return cdc_err_set(errstr, errstr_size, CDC_ERR_PARSE,
                                   "reassembly state: chunk %s fragment %zu "
                                   "needs an index and data",
                                   json_string_value(id), k);
        }
    }
    json_array_foreach(chunks, i, jc) {
        const char *id = json_string_value(json_object_get(jc, "chunk_id"));
        int64_t last = now_ms - json_integer_value(json_object_get(jc,
                                                                   "age_ms"));
        json_t *frags = json_object_get(jc, "fragments");
        json_array_foreach(frags, k, jf) {
            uint32_t index = (uint32_t)json_integer_value(
                json_object_get(jf, "index"));
            json_t *data = json_object_get(jf, "data");
            size_t len = json_string_length(data);
            chunk_t *c = chunk_find(ra, id);
            bool found = false;
            size_t slot = c ? frag_slot(c, index, &found) : 0;
            if (found || (c && c->total && index >= c->total) ||
                len > ra->lim.max_bytes ||
                (c && c->bytes + len > ra->lim.max_bytes))
                continue;
            pin(c, true);
            make_room(ra, len, c ? 0 : 1, now_ms);
            pin(c, false);
            if (!c && !(c = chunk_new(ra, id, last)))
                return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                                   "reassembly state: %s",
                                   cdc_err_str(CDC_ERR_NOMEM));
            slot = frag_slot(c, index, &found);
            if (frag_insert(ra, c, slot, index, data, 0) != CDC_OK)
                return cdc_err_set(errstr, errstr_size, CDC_ERR_NOMEM,
                                   "reassembly state: %s",
                                   cdc_err_str(CDC_ERR_NOMEM));
            if (c->last_ms < last)
                c->last_ms = last;
        }
    }
    return CDC_OK;
}
