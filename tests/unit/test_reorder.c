/*
 * test_reorder.c - per-key order, dedup and staleness over the DSQL CDC
 * fixture: the reordered output is expected.md section A exactly, streaming
 * without a window makes the decisions of section C and ends in the state of
 * section B, a restart from exported state at any point changes nothing,
 * and shuffled arrival with duplicates never breaks per-key order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "encode/flat.h"
#include "encode/pgtypes.h"
#include "source/cdcrec.h"
#include "source/reassembly.h"
#include "source/reorder.h"

#define NLINES 31
#define CHUNK "k5m2ttd7q3xw6bz4hn8ye1rc0a"

static char *lines[NLINES + 1]; /* 1-based, as expected.md numbers them */
static char *expected_md;

static char *slurp(const char *rel)
{
    const char *dir = getenv("CDC_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run through ctest)\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* ---- output entries ----------------------------------------------------- */

typedef struct {
    char key[64];  /* "event_headers:ev-001", "order_items:1001|2" */
    int64_t ts;
    char tx[40];
    char op;       /* c u d */
    char *image;   /* canonical JSON */
    int line;
} entry_t;

typedef struct {
    entry_t *e;
    size_t n, cap;
} list_t;

static void list_add(list_t *l, const entry_t *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->e = realloc(l->e, l->cap * sizeof(*l->e));
    }
    l->e[l->n++] = *e;
}

static void list_free(list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->e[i].image);
    free(l->e);
    memset(l, 0, sizeof(*l));
}

static char *canon(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static char *canon_text(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v)
        fail_msg("bad JSON in expected.md: %s", text);
    char *s = canon(v);
    json_decref(v);
    return s;
}

static bool entry_eq(const entry_t *a, const entry_t *b)
{
    return strcmp(a->key, b->key) == 0 && a->ts == b->ts &&
           strcmp(a->tx, b->tx) == 0 && a->op == b->op &&
           strcmp(a->image, b->image) == 0;
}

static void print_entry(const char *what, const entry_t *e)
{
    fprintf(stderr, "  %s %s %lld %s %c (line %d) %s\n", what, e->key,
            (long long)e->ts, e->tx, e->op, e->line, e->image);
}

/* Same keys, and per key the same entries in the same order. */
static void assert_same_per_key(const list_t *got, const list_t *want)
{
    bool ok = got->n == want->n;
    for (size_t i = 0; ok && i < want->n; i++) {
        /* the i-th entry of its key in want is the i-th of that key in got */
        size_t rank = 0;
        for (size_t j = 0; j < i; j++)
            rank += strcmp(want->e[j].key, want->e[i].key) == 0;
        const entry_t *g = NULL;
        for (size_t j = 0, r = 0; j < got->n; j++)
            if (strcmp(got->e[j].key, want->e[i].key) == 0 && r++ == rank) {
                g = &got->e[j];
                break;
            }
        ok = g && entry_eq(g, &want->e[i]);
    }
    if (!ok) {
        fprintf(stderr, "want:\n");
        for (size_t i = 0; i < want->n; i++)
            print_entry("", &want->e[i]);
        fprintf(stderr, "got:\n");
        for (size_t i = 0; i < got->n; i++)
            print_entry("", &got->e[i]);
        fail_msg("per-key output differs");
    }
}

/* ---- expected.md -------------------------------------------------------- */

static list_t want_a;          /* section A */
static char *want_b[16][2];    /* section B: key, canonical image or NULL */
static int nwant_b;
/* section C: per line, the decision: 'a'pply, 'S'tale, 'D'uplicate,
 * 'b'uffered (fragment / chunked main), 'n'o key; 0 none */
static char want_c[NLINES + 1];

static const char *section(const char *title)
{
    const char *s = strstr(expected_md, title);
    assert_non_null(s);
    return s;
}

static void parse_expected(void)
{
    /* A: key lines, then "   ts tx op (line N) json" */
    const char *p = section("## A."), *end = section("## B.");
    char key[64] = "";
    while (p < end) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p);
        char ln[1024];
        snprintf(ln, sizeof ln, "%.*s", (int)len, p);
        p = nl + 1;
        if (!strncmp(ln, "event_headers:", 14) ||
            !strncmp(ln, "order_items:", 12)) {
            snprintf(key, sizeof key, "%.63s", ln);
        } else if (!strncmp(ln, "   ", 3)) {
            entry_t e = {0};
            char op[16];
            int off = 0;
            long long ts;
            assert_int_equal(sscanf(ln, " %lld %39s %15s (line %d) %n", &ts,
                                    e.tx, op, &e.line, &off), 4);
            e.ts = ts;
            snprintf(e.key, sizeof e.key, "%s", key);
            /* "upsert(x)": the key had been emitted before, so 'u' */
            e.op = strcmp(op, "upsert(x)") == 0 ? 'u' : op[0];
            e.image = canon_text(ln + off);
            list_add(&want_a, &e);
        }
    }
    assert_int_equal(want_a.n, 21);

    /* B: "key TOMBSTONE" or "key json" inside the code block */
    p = strstr(section("## B."), "```\n") + 4;
    end = strstr(p, "```");
    while (p < end) {
        const char *nl = strchr(p, '\n');
        char ln[1024];
        snprintf(ln, sizeof ln, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        char *sp = strchr(ln, ' ');
        *sp = '\0';
        want_b[nwant_b][0] = strdup(ln);
        want_b[nwant_b][1] = strcmp(sp + 1, "TOMBSTONE") == 0
                                 ? NULL
                                 : canon_text(sp + 1);
        nwant_b++;
    }
    assert_int_equal(nwant_b, 8);

    /* C: "#N what ...: decision" */
    p = strstr(section("## C."), "```\n") + 4;
    end = strstr(p, "```");
    int n = 0;
    while (p < end) {
        const char *nl = strchr(p, '\n');
        char ln[512];
        snprintf(ln, sizeof ln, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        int line;
        char what[64];
        assert_int_equal(sscanf(ln, "#%d %63s", &line, what), 2);
        char d = 0;
        if (!strcmp(what, "fragment") || !strcmp(what, "chunked"))
            d = 'b';
        else if (!strcmp(what, "chunk"))
            continue; /* "chunk ... complete": the next line says apply */
        else if (strstr(ln, ": apply"))
            d = 'a';
        else if (strstr(ln, ": STALE"))
            d = 'S';
        else if (strstr(ln, ": DUPLICATE"))
            d = 'D';
        else if (strstr(ln, "no primary key"))
            d = 'n';
        if (!d)
            fail_msg("section C line not understood: %s", ln);
        if (line == 16 && d == 'a')
            want_c[0] = 'a'; /* the rebuilt main record is applied */
        else
            want_c[line] = d;
        n++;
    }
    assert_int_equal(n, 32);
}

static int setup(void **state)
{
    (void)state;
    char *all = slurp("dsql-cdc/records.jsonl");
    char *p = all;
    for (int i = 1; i <= NLINES; i++) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        lines[i] = strdup(p);
        p = nl + 1;
    }
    free(all);
    expected_md = slurp("dsql-cdc/expected.md");
    parse_expected();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 1; i <= NLINES; i++)
        free(lines[i]);
    free(expected_md);
    list_free(&want_a);
    for (int i = 0; i < nwant_b; i++) {
        free(want_b[i][0]);
        free(want_b[i][1]);
    }
    return 0;
}

/* ---- the pipeline: reassembly -> reorder -> recorded output ------------- */

typedef struct {
    cdc_reassembly_t *ra;
    cdc_reorder_t *ro;
    list_t out;
    int rres[NLINES + 1];        /* reorder result per line, -1 none */
    int ares[NLINES + 1];        /* reassembly result per line, -1 none */
    bool done[NLINES + 1];       /* position free (dropped or delivered) */
    uint64_t frag_of_16[4];      /* fragments consumed by line 16 */
    size_t nfrag_of_16;
    bool fail_emit;              /* callback answers QUEUE_FULL */
    int emits_refused;
    int64_t last_ts_ms;
} pipe_t;

static const char *const eh_key[] = {"id"};
static const char *const oi_key[] = {"order_id", "item_id"};

static bool is_key_col(const char *table, const char *col)
{
    if (!strcmp(table, "event_headers"))
        return !strcmp(col, "id");
    return !strcmp(col, "order_id") || !strcmp(col, "item_id");
}

/* The change's columns back to JSON through the encoder's parsers: must be
 * the record's image again. */
static void check_columns(const cdc_reorder_out_t *o, const char *image)
{
    const cdc_change_t *ch = &o->change;
    json_t *obj = json_object();
    for (size_t i = 0; i < ch->ncols; i++) {
        const cdc_column_t *c = &ch->cols[i];
        assert_int_equal(c->is_key, is_key_col(ch->table, c->name));
        json_t *v;
        if (c->is_null) {
            assert_null(c->value);
            v = json_null();
        } else {
            switch (c->type_oid) {
            case CDC_PGOID_TIMESTAMPTZ: {
                int64_t us;
                assert_int_equal(cdc_pgtypes_epoch_us(c->type_oid, c->value,
                                                      c->len, &us), CDC_OK);
                v = json_integer(us);
                break;
            }
            case CDC_PGOID_INT4:
                v = json_integer(strtoll(c->value, NULL, 10));
                break;
            case CDC_PGOID_TEXT:
            case CDC_PGOID_JSON:
            case CDC_PGOID_NUMERIC:
                v = json_stringn(c->value, c->len);
                break;
            default:
                v = NULL;
                fail_msg("column %s: unexpected oid %u", c->name,
                         c->type_oid);
            }
        }
        json_object_set_new(obj, c->name, v);
    }
    char *s = canon(obj);
    assert_string_equal(s, image);
    free(s);
    json_decref(obj);
}

static cdc_err_t on_emit(void *opaque, const cdc_reorder_out_t *o,
                         char *errstr, size_t n)
{
    pipe_t *p = opaque;
    if (p->fail_emit) {
        p->emits_refused++;
        return cdc_err_set(errstr, n, CDC_ERR_QUEUE_FULL, "queue full");
    }
    const cdc_cdcrec_t *rec = o->rec;
    entry_t e = {0};
    e.op = (char)o->change.op;
    e.ts = rec->source.ts_ns;
    snprintf(e.tx, sizeof e.tx, "%s", rec->source.tx_id);
    e.line = (int)o->pos;
    e.image = canon(e.op == 'd' ? rec->before.obj : rec->after.obj);
    assert_true(o->keyed);
    assert_int_equal(o->tombstone, e.op == 'd');
    assert_true(o->change.ts_ms == rec->ts_ms);
    assert_string_equal(o->change.schema, "public");
    /* key text: table:v1|v2 */
    json_error_t je;
    json_t *k = json_loads(o->key, JSON_DECODE_ANY, &je);
    assert_true(json_is_array(k));
    int off = snprintf(e.key, sizeof e.key, "%s:", o->change.table);
    size_t i;
    json_t *v;
    json_array_foreach(k, i, v) {
        if (json_is_string(v))
            off += snprintf(e.key + off, sizeof e.key - (size_t)off, "%s%s",
                            i ? "|" : "", json_string_value(v));
        else
            off += snprintf(e.key + off, sizeof e.key - (size_t)off,
                            "%s%lld", i ? "|" : "",
                            (long long)json_integer_value(v));
    }
    json_decref(k);
    check_columns(o, e.image);
    list_add(&p->out, &e);

    /* delivered at once: release the positions and the chunk */
    p->done[o->pos] = true;
    if (rec->chunk_after.present) {
        for (size_t f = 0; f < p->nfrag_of_16; f++)
            if (p->frag_of_16[f])
                p->done[p->frag_of_16[f]] = true;
        cdc_reassembly_release(p->ra, rec->chunk_after.chunk_id);
    }
    return CDC_OK;
}

static void pipe_init_opts(pipe_t *p, const cdc_reorder_opts_t *o)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i <= NLINES; i++)
        p->rres[i] = p->ares[i] = -1;
    p->ra = cdc_reassembly_new(NULL, NULL, NULL);
    p->ro = cdc_reorder_new(o, on_emit, p);
    assert_non_null(p->ra);
    assert_non_null(p->ro);
    cdc_reorder_set_key(p->ro, "public", "event_headers", eh_key, 1);
    cdc_reorder_set_key(p->ro, "public", "order_items", oi_key, 2);
    static const struct {
        const char *t, *c;
        uint32_t oid;
    } types[] = {
        {"event_headers", "id", CDC_PGOID_TEXT},
        {"event_headers", "event_name", CDC_PGOID_TEXT},
        {"event_headers", "event_type", CDC_PGOID_TEXT},
        {"event_headers", "created_date", CDC_PGOID_TIMESTAMPTZ},
        {"event_headers", "saved_date", CDC_PGOID_TIMESTAMPTZ},
        {"event_headers", "header_data", CDC_PGOID_JSON},
        {"order_items", "order_id", CDC_PGOID_INT4},
        {"order_items", "item_id", CDC_PGOID_INT4},
        {"order_items", "quantity", CDC_PGOID_INT4},
        {"order_items", "price", CDC_PGOID_NUMERIC},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_int_equal(cdc_reorder_set_type(p->ro, "public", types[i].t,
                                              types[i].c, types[i].oid),
                         CDC_OK);
}

static void pipe_init(pipe_t *p, int64_t window_ms)
{
    cdc_reorder_opts_t o = {.window_ms = window_ms};
    pipe_init_opts(p, &o);
}

static void pipe_free(pipe_t *p)
{
    cdc_reorder_destroy(p->ro);
    cdc_reassembly_destroy(p->ra);
    list_free(&p->out);
}

static void pushed(pipe_t *p, cdc_reorder_result_t res, int line)
{
    p->rres[line] = (int)res;
    if (res != CDC_REORDER_HELD) {
        p->done[line] = true;
        if (line == 16)
            for (size_t f = 0; f < p->nfrag_of_16; f++)
                p->done[p->frag_of_16[f]] = true;
    }
}

/* Feed one fixture line at now_ms; CDC_OK or the first error. */
static cdc_err_t feed(pipe_t *p, int line, int64_t now_ms)
{
    char err[512] = "";
    cdc_cdcrec_t rec;
    if (cdc_cdcrec_parse(lines[line], strlen(lines[line]), &rec, err,
                         sizeof err) != CDC_OK)
        fail_msg("line %d: %s", line, err);
    cdc_reorder_result_t res;
    cdc_err_t e;
    if (rec.type == CDC_CDCREC_FULL) {
        e = cdc_reorder_push(p->ro, &rec, (uint64_t)line, now_ms, &res, err,
                             sizeof err);
        pushed(p, res, line);
        return e;
    }
    cdc_reasm_result_t ares;
    cdc_reassembly_out_t out;
    cdc_reassembly_out_init(&out);
    e = cdc_reassembly_add(p->ra, &rec, (uint64_t)line, now_ms, &ares, &out,
                           err, sizeof err);
    if (e != CDC_OK)
        fail_msg("line %d: %s", line, err);
    p->ares[line] = (int)ares;
    if (ares == CDC_REASM_DUPLICATE)
        p->done[line] = true;
    if (ares != CDC_REASM_COMPLETE)
        return CDC_OK;
    assert_int_equal(out.pos, 16);
    p->nfrag_of_16 = out.nfrag_pos;
    memcpy(p->frag_of_16, out.frag_pos, out.nfrag_pos * sizeof(uint64_t));
    int main_line = (int)out.pos;
    e = cdc_reorder_push(p->ro, &out.rec, out.pos, now_ms, &res, err,
                         sizeof err);
    pushed(p, res, main_line);
    cdc_reassembly_out_clear(&out);
    return e;
}

static void feed_ok(pipe_t *p, int line, int64_t now_ms)
{
    cdc_err_t e = feed(p, line, now_ms);
    if (e != CDC_OK)
        fail_msg("line %d: %s", line, cdc_err_name(e));
}

static void flush_ok(pipe_t *p)
{
    char err[256];
    assert_int_equal(cdc_reorder_flush(p->ro, err, sizeof err), CDC_OK);
    assert_int_equal(cdc_reorder_stats(p->ro).held, 0);
}

/* Section A without the records a streaming consumer drops as stale. */
static void want_without(list_t *dst, const int *skip_lines, size_t nskip)
{
    for (size_t i = 0; i < want_a.n; i++) {
        bool skip = false;
        for (size_t k = 0; k < nskip; k++)
            skip |= want_a.e[i].line == skip_lines[k];
        if (skip)
            continue;
        entry_t e = want_a.e[i];
        e.image = strdup(e.image);
        list_add(dst, &e);
    }
}

/* The last entry per key is section B's state. */
static void assert_state_b(const list_t *out)
{
    for (int b = 0; b < nwant_b; b++) {
        const entry_t *last = NULL;
        for (size_t i = 0; i < out->n; i++)
            if (!strcmp(out->e[i].key, want_b[b][0]))
                last = &out->e[i];
        assert_non_null(last);
        if (want_b[b][1])
            assert_string_equal(last->image, want_b[b][1]);
        else
            assert_int_equal(last->op, 'd');
    }
}

/* ---- fixture runs ------------------------------------------------------- */

static void run_in_file_order(pipe_t *p, int64_t window_ms)
{
    pipe_init(p, window_ms);
    for (int i = 1; i <= NLINES; i++)
        feed_ok(p, i, i * 1000);
    flush_ok(p);
}

static void test_window_restores_section_a(void **state)
{
    (void)state;
    /* 3 s at one record per second is enough for every late record here. */
    pipe_t p;
    run_in_file_order(&p, 3000);
    assert_same_per_key(&p.out, &want_a);
    assert_state_b(&p.out);
    cdc_reorder_stats_t st = cdc_reorder_stats(p.ro);
    assert_int_equal(st.duplicates, 5); /* 8, 15, 26, 27, 31 */
    assert_int_equal(st.stale, 0);
    assert_int_equal(st.unknown_op, 1); /* 19; 26 is its duplicate */
    assert_int_equal(st.no_key_skipped, 1); /* 29 */
    assert_int_equal(st.emitted, 21);
    assert_int_equal(st.accepted, 21);
    assert_int_equal(st.too_old, 0);
    assert_int_equal(st.hint_mismatch, 0);
    assert_int_equal(st.keys, 8);
    cdc_reassembly_stats_t rs = cdc_reassembly_stats(p.ra);
    assert_int_equal(rs.completed, 1);
    assert_int_equal(rs.fragments, 3);
    assert_int_equal(rs.duplicates, 1); /* 18, while ev-004 is held */
    assert_int_equal(p.rres[19], CDC_REORDER_HELD);
    assert_int_equal(p.rres[26], CDC_REORDER_DUPLICATE);
    for (int i = 1; i <= NLINES; i++)
        assert_true(p.done[i]);
    pipe_free(&p);
}

static void test_unbounded_window_restores_section_a(void **state)
{
    (void)state;
    pipe_t p;
    run_in_file_order(&p, INT64_C(1) << 50);
    assert_same_per_key(&p.out, &want_a);
    /* everything came out at the flush: ordered per key *and* no output
     * before it */
    pipe_free(&p);
}

static void test_no_window_follows_section_c(void **state)
{
    (void)state;
    pipe_t p;
    pipe_init(&p, 0);
    for (int i = 1; i <= NLINES; i++) {
        size_t before = p.out.n;
        feed_ok(&p, i, i * 1000);
        char d = want_c[i];
        switch (d) {
        case 'a':
            assert_int_equal(p.rres[i], CDC_REORDER_HELD);
            assert_int_equal(p.out.n, before + 1); /* forwarded at once */
            assert_int_equal(p.out.e[before].line, i);
            break;
        case 'S':
            assert_int_equal(p.rres[i], CDC_REORDER_STALE);
            break;
        case 'D':
            assert_int_equal(p.rres[i], CDC_REORDER_DUPLICATE);
            break;
        case 'n':
            assert_int_equal(p.rres[i], CDC_REORDER_NO_KEY);
            break;
        case 'b':
            assert_int_equal(p.ares[i], i == 17 ? CDC_REASM_COMPLETE
                                                : CDC_REASM_HELD);
            break;
        default:
            fail_msg("no decision for line %d", i);
        }
        if (d != 'a' && i != 17)
            assert_int_equal(p.out.n, before);
    }
    /* the rebuilt main record of line 16, applied at line 17 */
    assert_int_equal(want_c[0], 'a');
    assert_int_equal(p.rres[16], CDC_REORDER_HELD);
    assert_int_equal(cdc_reorder_stats(p.ro).held, 0);

    list_t want = {0};
    static const int stale[] = {7, 23};
    want_without(&want, stale, 2);
    assert_same_per_key(&p.out, &want);
    list_free(&want);
    assert_state_b(&p.out);
    cdc_reorder_stats_t st = cdc_reorder_stats(p.ro);
    assert_int_equal(st.duplicates, 5);
    assert_int_equal(st.stale, 2);
    assert_int_equal(st.unknown_op, 1);
    assert_int_equal(st.no_key_skipped, 1);
    assert_int_equal(st.emitted, 19);
    /* line 18 came after ev-004 was delivered and released: held anew */
    assert_int_equal(cdc_reassembly_stats(p.ra).chunks, 1);
    pipe_free(&p);
}

/* ---- restart ------------------------------------------------------------ */

/* Fragment lines whose piece is in the reassembly export. */
static void mark_exported_fragments(const json_t *st, bool *durable)
{
    static const struct {
        int line, index;
    } frags[] = {{13, 2}, {14, 0}, {17, 1}, {18, 0}};
    size_t i, k;
    json_t *c, *f;
    json_array_foreach(json_object_get(st, "chunks"), i, c) {
        assert_string_equal(json_string_value(json_object_get(c, "chunk_id")),
                            CHUNK);
        json_array_foreach(json_object_get(c, "fragments"), k, f) {
            json_int_t idx = json_integer_value(json_object_get(f, "index"));
            for (size_t j = 0; j < 4; j++)
                if (frags[j].index == idx)
                    durable[frags[j].line] = true;
        }
    }
}

static json_t *through_text(json_t *v)
{
    char *s = json_dumps(v, 0);
    json_decref(v);
    json_error_t je;
    json_t *back = json_loads(s, 0, &je);
    free(s);
    assert_non_null(back);
    return back;
}

/*
 * Run lines 1..cut, "crash" keeping only the exported state, restart from
 * the first line whose position is not free, and finish: the output of both
 * runs together must be the uninterrupted output.
 */
static void run_with_restart(int64_t window_ms, int cut, const list_t *want)
{
    pipe_t a;
    pipe_init(&a, window_ms);
    for (int i = 1; i <= cut; i++)
        feed_ok(&a, i, i * 1000);
    json_t *ro_state = through_text(cdc_reorder_export(a.ro));
    json_t *ra_state =
        through_text(cdc_reassembly_export(a.ra, (int64_t)cut * 1000));
    bool durable[NLINES + 2] = {false};
    memcpy(durable, a.done, sizeof a.done);
    mark_exported_fragments(ra_state, durable);
    int from = cut + 1;
    for (int i = 1; i <= cut; i++)
        if (!durable[i]) {
            from = i;
            break;
        }

    pipe_t b;
    pipe_init(&b, window_ms);
    char err[256];
    assert_int_equal(cdc_reorder_import(b.ro, ro_state, err, sizeof err),
                     CDC_OK);
    assert_int_equal(cdc_reassembly_import(b.ra, ra_state,
                                           (int64_t)(cut + 1) * 1000, err,
                                           sizeof err), CDC_OK);
    json_decref(ro_state);
    json_decref(ra_state);
    int64_t shift = (int64_t)(cut + 1 - from) * 1000;
    for (int i = from; i <= NLINES; i++)
        feed_ok(&b, i, i * 1000 + shift);
    flush_ok(&b);

    list_t both = {0};
    for (size_t i = 0; i < a.out.n; i++) {
        entry_t e = a.out.e[i];
        e.image = strdup(e.image);
        list_add(&both, &e);
    }
    for (size_t i = 0; i < b.out.n; i++) {
        entry_t e = b.out.e[i];
        e.image = strdup(e.image);
        list_add(&both, &e);
    }
    if (both.n != want->n)
        fprintf(stderr, "window %lld, cut after line %d, restart at %d:\n",
                (long long)window_ms, cut, from);
    assert_same_per_key(&both, want);
    list_free(&both);
    pipe_free(&a);
    pipe_free(&b);
}

static void test_restart_anywhere_changes_nothing(void **state)
{
    (void)state;
    list_t streaming = {0};
    static const int stale[] = {7, 23};
    want_without(&streaming, stale, 2);
    for (int cut = 1; cut < NLINES; cut++) {
        run_with_restart(3000, cut, &want_a);
        run_with_restart(0, cut, &streaming);
    }
    list_free(&streaming);
}

/* Exports describe delivered changes only, when delivery is tracked. */
typedef struct {
    uint64_t seqs[8];
    int n;
} seqs_t;

static cdc_err_t on_emit_seq(void *opaque, const cdc_reorder_out_t *o,
                             char *errstr, size_t n)
{
    seqs_t *s = opaque;
    s->seqs[s->n++] = o->seq;
    return CDC_OK;
}

static cdc_reorder_result_t push_line(cdc_reorder_t *ro, int line,
                                      int64_t now, cdc_err_t want_err)
{
    char err[512] = "";
    cdc_cdcrec_t rec;
    assert_int_equal(cdc_cdcrec_parse(lines[line], strlen(lines[line]), &rec,
                                      err, sizeof err), CDC_OK);
    cdc_reorder_result_t res;
    cdc_err_t e = cdc_reorder_push(ro, &rec, (uint64_t)line, now, &res, err,
                                   sizeof err);
    if (e != want_err)
        fail_msg("line %d: %s %s", line, cdc_err_name(e), err);
    assert_null(rec.root);
    return res;
}

/* ts_ns of the one key in an export, 0 when it has none. */
static int64_t exported_ts(cdc_reorder_t *ro)
{
    json_t *st = cdc_reorder_export(ro);
    json_t *keys = json_object_get(st, "keys");
    int64_t ts = 0;
    if (json_array_size(keys)) {
        assert_int_equal(json_array_size(keys), 1);
        ts = json_integer_value(json_object_get(json_array_get(keys, 0),
                                                "ts_ns"));
    }
    json_decref(st);
    return ts;
}

static void test_export_tracks_delivery(void **state)
{
    (void)state;
    seqs_t s = {0};
    cdc_reorder_opts_t o = {.track_delivery = true};
    cdc_reorder_t *ro = cdc_reorder_new(&o, on_emit_seq, &s);
    cdc_reorder_set_key(ro, "public", "event_headers", eh_key, 1);
    push_line(ro, 1, 1, CDC_OK);  /* ev-002 T1 */
    push_line(ro, 10, 2, CDC_OK); /* ev-002 T3 */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.seqs[0], 1);
    assert_int_equal(s.seqs[1], 2);
    assert_true(exported_ts(ro) == 0); /* nothing delivered */
    cdc_reorder_delivered(ro, 2);      /* out of order */
    assert_true(exported_ts(ro) == 0);
    cdc_reorder_delivered(ro, 1);
    assert_true(exported_ts(ro) == INT64_C(1783674003255031877));
    push_line(ro, 19, 3, CDC_OK); /* ev-002 T6, op x */
    assert_true(exported_ts(ro) == INT64_C(1783674003255031877));
    cdc_reorder_delivered(ro, 99); /* unknown: ignored */
    cdc_reorder_delivered(ro, 3);

    json_t *st = cdc_reorder_export(ro);
    assert_true(json_integer_value(json_object_get(st, "max_ts_ns")) ==
                INT64_C(1783674008027000123));
    json_t *k = json_array_get(json_object_get(st, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "schema")),
                        "public");
    assert_string_equal(json_string_value(json_object_get(k, "table")),
                        "event_headers");
    assert_string_equal(json_string_value(json_object_get(k, "key")),
                        "[\"ev-002\"]");
    assert_string_equal(json_string_value(json_object_get(k, "tx")),
                        "ffrst7uvw2xyz3abc4def5ghi6");
    /* op x on a key whose last change was an update: emitted as u */
    assert_string_equal(json_string_value(json_object_get(k, "op")), "u");
    json_t *seen = json_object_get(k, "seen");
    assert_int_equal(json_array_size(seen), 3);
    assert_true(json_integer_value(json_array_get(json_array_get(seen, 0),
                                                  0)) ==
                INT64_C(1783674000118204311));
    assert_int_equal(strlen(json_string_value(
                         json_array_get(json_array_get(seen, 0), 1))), 16);
    cdc_reorder_destroy(ro);

    /* A fresh reorderer continues from it; a second import is refused. */
    s.n = 0;
    ro = cdc_reorder_new(&o, on_emit_seq, &s);
    cdc_reorder_set_key(ro, "public", "event_headers", eh_key, 1);
    char err[256];
    assert_int_equal(cdc_reorder_import(ro, st, err, sizeof err), CDC_OK);
    assert_int_equal(push_line(ro, 26, 4, CDC_OK), CDC_REORDER_DUPLICATE);
    assert_int_equal(push_line(ro, 10, 5, CDC_OK), CDC_REORDER_DUPLICATE);
    assert_int_equal(push_line(ro, 5, 6, CDC_OK), CDC_REORDER_HELD);
    assert_int_equal(cdc_reorder_import(ro, st, err, sizeof err),
                     CDC_ERR_INVALID_ARG);
    json_decref(st);
    cdc_reorder_destroy(ro);
}

static void test_import_rejects_malformed(void **state)
{
    (void)state;
    seqs_t s = {0};
    cdc_reorder_t *ro = cdc_reorder_new(NULL, on_emit_seq, &s);
    static const char *bad[] = {
        "[]",
        "{\"v\":1,\"keys\":[]}",
        "{\"v\":1,\"max_ts_ns\":5,\"keys\":[{\"schema\":\"s\"}]}",
        "{\"v\":1,\"max_ts_ns\":5,\"keys\":[{\"schema\":\"s\",\"table\":\"t\","
        "\"key\":\"[1]\",\"ts_ns\":5,\"tx\":\"a\",\"op\":\"q\",\"seen\":[]}]}",
        "{\"v\":1,\"max_ts_ns\":5,\"keys\":[{\"schema\":\"s\",\"table\":\"t\","
        "\"key\":\"[1]\",\"ts_ns\":5,\"tx\":\"a\",\"op\":\"c\",\"seen\":"
        "[[5,\"xyz\"]]}]}",
        "{\"v\":1,\"max_ts_ns\":5,\"keys\":[{\"schema\":\"s\",\"table\":\"t\","
        "\"key\":\"[1]\",\"ts_ns\":5,\"tx\":\"a\",\"op\":\"c\",\"seen\":[]},"
        "{\"schema\":\"s\",\"table\":\"t\",\"key\":\"[1]\",\"ts_ns\":6,"
        "\"tx\":\"b\",\"op\":\"u\",\"seen\":[]}]}",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_error_t je;
        json_t *j = json_loads(bad[i], 0, &je);
        assert_non_null(j);
        if (cdc_reorder_import(ro, j, err, sizeof err) != CDC_ERR_PARSE)
            fail_msg("state %zu accepted", i);
        assert_int_equal(cdc_reorder_stats(ro).keys, 0);
        json_decref(j);
    }
    cdc_reorder_destroy(ro);
}

/* ---- shuffled arrival --------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Every line once plus random re-deliveries, shuffled. */
static int make_arrivals(int *arr)
{
    int n = 0;
    for (int i = 1; i <= NLINES; i++) {
        arr[n++] = i;
        int extra = rng() % 3 == 0 ? 1 + (int)(rng() % 2) : 0;
        while (extra--)
            arr[n++] = i;
    }
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng() % (uint64_t)(i + 1));
        int t = arr[i];
        arr[i] = arr[j];
        arr[j] = t;
    }
    return n;
}

static void assert_ordered_subset_of_a(const list_t *out)
{
    for (size_t i = 0; i < out->n; i++) {
        const entry_t *e = &out->e[i];
        bool in_a = false;
        for (size_t k = 0; k < want_a.n && !in_a; k++)
            in_a = entry_eq(e, &want_a.e[k]);
        if (!in_a)
            print_entry("not in A:", e);
        assert_true(in_a);
        /* strictly newer than every earlier change of its key */
        for (size_t j = 0; j < i; j++) {
            const entry_t *p = &out->e[j];
            if (strcmp(p->key, e->key))
                continue;
            assert_true(p->ts < e->ts ||
                        (p->ts == e->ts && strcmp(p->tx, e->tx) < 0));
        }
    }
}

static void test_shuffled_with_duplicates(void **state)
{
    (void)state;
    rng_state = 0x2545F4914F6CDD1Dull;
    int arr[4 * NLINES];
    for (int round = 0; round < 300; round++) {
        int n = make_arrivals(arr);
        int64_t windows[3] = {INT64_C(1) << 50, 0, 1000 + (int64_t)(rng() %
                                                                    5000)};
        for (int w = 0; w < 3; w++) {
            pipe_t p;
            pipe_init(&p, windows[w]);
            int64_t now = 0;
            for (int i = 0; i < n; i++) {
                now += 1 + (int64_t)(rng() % 1000);
                feed_ok(&p, arr[i], now);
            }
            flush_ok(&p);
            if (w == 0)
                assert_same_per_key(&p.out, &want_a);
            else
                assert_ordered_subset_of_a(&p.out);
            assert_state_b(&p.out);
            cdc_reorder_stats_t st = cdc_reorder_stats(p.ro);
            assert_int_equal(st.emitted, p.out.n);
            pipe_free(&p);
        }
    }
}

/* ---- single behaviours -------------------------------------------------- */

typedef struct {
    char ops[16];
    int n;
    bool keyed[16];
    bool tomb[16];
    int nkeycols[16];
    uint64_t pos[16];
    char value[1024];
    char key[256];
} simple_t;

static cdc_err_t on_emit_simple(void *opaque, const cdc_reorder_out_t *o,
                                char *errstr, size_t n)
{
    simple_t *s = opaque;
    s->ops[s->n] = (char)o->change.op;
    s->keyed[s->n] = o->keyed;
    s->tomb[s->n] = o->tombstone;
    s->pos[s->n] = o->pos;
    int k = 0;
    for (size_t i = 0; i < o->change.ncols; i++)
        k += o->change.cols[i].is_key;
    s->nkeycols[s->n] = k;
    s->n++;
    cdc_buf_t b;
    cdc_buf_init(&b);
    cdc_err_t e = cdc_flat_encode_value(&o->change, &b, errstr, n);
    if (e == CDC_OK)
        snprintf(s->value, sizeof s->value, "%s", b.data);
    cdc_buf_reset(&b);
    if (e == CDC_OK && (e = cdc_flat_encode_key(&o->change, &b, errstr, n)) ==
                           CDC_OK)
        snprintf(s->key, sizeof s->key, "%s", b.data ? b.data : "");
    cdc_buf_free(&b);
    return e;
}

static cdc_reorder_t *simple_new(simple_t *s, int64_t window_ms)
{
    memset(s, 0, sizeof(*s));
    cdc_reorder_opts_t o = {.window_ms = window_ms};
    cdc_reorder_t *ro = cdc_reorder_new(&o, on_emit_simple, s);
    cdc_reorder_set_key(ro, "public", "event_headers", eh_key, 1);
    cdc_reorder_set_key(ro, "public", "order_items", oi_key, 2);
    return ro;
}

/* Push a record given as text. */
static cdc_err_t push_text(cdc_reorder_t *ro, const char *text, uint64_t pos,
                           int64_t now, cdc_reorder_result_t *res, char *err,
                           size_t n)
{
    cdc_cdcrec_t rec;
    assert_int_equal(cdc_cdcrec_parse(text, strlen(text), &rec, err, n),
                     CDC_OK);
    cdc_err_t e = cdc_reorder_push(ro, &rec, pos, now, res, err, n);
    assert_null(rec.root);
    return e;
}

/* Line `line` with `from` replaced by `to`. */
static char *mutate(int line, const char *from, const char *to)
{
    static char buf[8192];
    const char *at = strstr(lines[line], from);
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - lines[line]),
             lines[line], to, at + strlen(from));
    return buf;
}

/* What the Kafka record looks like: the poller's flat format. */
static void test_flat_record_as_the_poller_writes_it(void **state)
{
    (void)state;
    simple_t s;
    cdc_reorder_t *ro = simple_new(&s, 0);
    cdc_reorder_set_type(ro, "public", "event_headers", "created_date",
                         CDC_PGOID_TIMESTAMPTZ);
    cdc_reorder_set_type(ro, "public", "event_headers", "saved_date",
                         CDC_PGOID_TIMESTAMPTZ);
    cdc_reorder_set_type(ro, "public", "event_headers", "header_data",
                         CDC_PGOID_JSON);
    cdc_reorder_set_type(ro, "public", "order_items", "price",
                         CDC_PGOID_NUMERIC);
    push_line(ro, 3, 0, CDC_OK);
    assert_string_equal(s.value,
                        "{\"id\":\"ev-001\",\"event_name\":\"user.signup\","
                        "\"event_type\":\"audit\",\"created_date\":"
                        "\"2026-07-10T08:59:58.12Z\",\"saved_date\":"
                        "\"2026-07-10T08:59:59.001Z\",\"header_data\":"
                        "\"{\\\"v\\\":1,\\\"src\\\":\\\"web\\\"}\","
                        "\"__op\":\"c\",\"__table\":\"event_headers\","
                        "\"__ts_ms\":1783674000263}");
    assert_string_equal(s.key, "{\"id\":\"ev-001\"}");
    /* No hints for order_items ints: int8 renders the same numbers. */
    push_line(ro, 24, 1, CDC_OK);
    assert_string_equal(s.value,
                        "{\"order_id\":1002,\"item_id\":1,\"quantity\":1,"
                        "\"price\":\"NaN\",\"__op\":\"c\",\"__table\":"
                        "\"order_items\",\"__ts_ms\":1783674011968}");
    assert_string_equal(s.key, "{\"order_id\":1002,\"item_id\":1}");
    push_line(ro, 9, 2, CDC_OK);
    assert_string_equal(s.value,
                        "{\"order_id\":1001,\"item_id\":2,\"__op\":\"d\","
                        "\"__table\":\"order_items\",\"__ts_ms\":"
                        "1783674003380}");
    assert_true(s.tomb[2]);
    assert_int_equal(s.nkeycols[2], 2);
    /* Without a hint a timestamp stays a number (documented). */
    cdc_reorder_t *bare = simple_new(&s, 0);
    cdc_reorder_set_key(bare, "public", "event_headers", eh_key, 1);
    push_line(bare, 3, 0, CDC_OK);
    assert_non_null(strstr(s.value, "\"created_date\":1783673998120000,"));
    cdc_reorder_destroy(bare);
    cdc_reorder_destroy(ro);
}

static void test_no_key_tables_and_filter(void **state)
{
    (void)state;
    simple_t s;
    cdc_reorder_t *ro = simple_new(&s, 5000);
    char err[512];
    cdc_reorder_result_t res;
    assert_int_equal(push_line(ro, 29, 0, CDC_OK), CDC_REORDER_NO_KEY);
    /* An insert into the table without key passes at once, unkeyed. */
    const char *ins = mutate(29, "\"op\":\"d\",\"before\":null,\"after\":null",
                             "\"op\":\"c\",\"before\":null,\"after\":"
                             "{\"msg\":\"hi\",\"n\":1}");
    assert_int_equal(push_text(ro, ins, 7, 1, &res, err, sizeof err), CDC_OK);
    assert_int_equal(res, CDC_REORDER_HELD);
    assert_int_equal(s.n, 1);
    assert_false(s.keyed[0]);
    assert_false(s.tomb[0]);
    assert_int_equal(s.nkeycols[0], 0);
    assert_int_equal(s.pos[0], 7);
    assert_string_equal(s.key, ""); /* null Kafka key */
    assert_int_equal(cdc_reorder_next_due(ro), INT64_MAX);
    /* A keyed one waits for its window. */
    push_line(ro, 1, 2, CDC_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(cdc_reorder_next_due(ro), 5002);
    assert_int_equal(cdc_reorder_release(ro, 5001, err, sizeof err), CDC_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(cdc_reorder_release(ro, 5002, err, sizeof err), CDC_OK);
    assert_int_equal(s.n, 2);
    cdc_reorder_stats_t st = cdc_reorder_stats(ro);
    assert_int_equal(st.no_key_passed, 1);
    assert_int_equal(st.no_key_skipped, 1);
    cdc_reorder_destroy(ro);

    ro = simple_new(&s, 0);
    cdc_reorder_allow_table(ro, "public", "order_items");
    assert_int_equal(push_line(ro, 1, 0, CDC_OK), CDC_REORDER_FILTERED);
    assert_int_equal(push_line(ro, 29, 0, CDC_OK), CDC_REORDER_FILTERED);
    assert_int_equal(push_line(ro, 2, 0, CDC_OK), CDC_REORDER_HELD);
    assert_int_equal(cdc_reorder_stats(ro).filtered, 2);
    assert_int_equal(s.n, 1);
    cdc_reorder_destroy(ro);
}

static void test_unknown_op_after_delete_is_create(void **state)
{
    (void)state;
    simple_t s;
    cdc_reorder_t *ro = simple_new(&s, 0);
    char err[512];
    cdc_reorder_result_t res;
    push_line(ro, 9, 0, CDC_OK); /* d (1001,2) at T3 */
    const char *x = mutate(2, "\"op\":\"c\"", "\"op\":\"merge\"");
    /* (1001,1) at T1: never seen, so an update */
    assert_int_equal(push_text(ro, x, 1, 1, &res, err, sizeof err), CDC_OK);
    char later[8192];
    snprintf(later, sizeof later, "%s",
             mutate(4, "1783674000118204311", "1783674009999999999"));
    char *op = strstr(later, "\"op\":\"c\"");
    memcpy(op, "\"op\":\"z\"", 8);
    /* (1001,2) after its delete: the row comes back */
    assert_int_equal(push_text(ro, later, 2, 2, &res, err, sizeof err),
                     CDC_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.ops[0], 'd');
    assert_int_equal(s.ops[1], 'u');
    assert_int_equal(s.ops[2], 'c');
    assert_int_equal(cdc_reorder_stats(ro).unknown_op, 2);
    cdc_reorder_destroy(ro);
}

static void test_equal_commit_time_orders_by_txid(void **state)
{
    (void)state;
    simple_t s;
    char b[8192], err[512];
    snprintf(b, sizeof b, "%s",
             mutate(2, "aaqsd4fgh5jk2lmn3opq7rstuv", "bbbbbbbbbbbbbbbbbbbbbbbbbb"));
    cdc_reorder_result_t res;
    cdc_reorder_t *ro = simple_new(&s, 1000);
    assert_int_equal(push_text(ro, b, 22, 0, &res, err, sizeof err), CDC_OK);
    push_line(ro, 2, 1, CDC_OK); /* "aaqs..." < "bbbb..." */
    assert_int_equal(cdc_reorder_flush(ro, err, sizeof err), CDC_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.pos[0], 2);
    assert_int_equal(s.pos[1], 22);
    assert_int_equal(cdc_reorder_stats(ro).duplicates, 0);
    cdc_reorder_destroy(ro);

    ro = simple_new(&s, 0);
    assert_int_equal(push_text(ro, b, 2, 0, &res, err, sizeof err), CDC_OK);
    assert_int_equal(push_line(ro, 2, 1, CDC_OK), CDC_REORDER_STALE);
    cdc_reorder_destroy(ro);
}

static void test_retention_horizon(void **state)
{
    (void)state;
    simple_t s;
    memset(&s, 0, sizeof s);
    cdc_reorder_opts_t o = {.retention_ms = 1};
    cdc_reorder_t *ro = cdc_reorder_new(&o, on_emit_simple, &s);
    cdc_reorder_set_key(ro, "public", "event_headers", eh_key, 1);
    push_line(ro, 3, 0, CDC_OK); /* ev-001 T1 */
    push_line(ro, 5, 1, CDC_OK); /* ev-003 T2, 1.8 s later: T1 is past */
    cdc_reorder_stats_t st = cdc_reorder_stats(ro);
    assert_int_equal(st.keys, 1);
    assert_int_equal(st.keys_evicted, 1);
    /* ev-001's state is gone and T1 is older than the horizon */
    assert_int_equal(push_line(ro, 8, 2, CDC_OK), CDC_REORDER_TOO_OLD);
    /* a new key within the horizon is fine */
    assert_int_equal(push_line(ro, 7, 3, CDC_OK), CDC_REORDER_HELD);
    assert_int_equal(cdc_reorder_stats(ro).too_old, 1);
    /* the export leaves forgotten keys out */
    json_t *st2 = cdc_reorder_export(ro);
    assert_int_equal(json_array_size(json_object_get(st2, "keys")), 2);
    json_decref(st2);
    cdc_reorder_destroy(ro);
}

static void test_backpressure_keeps_order(void **state)
{
    (void)state;
    pipe_t p;
    pipe_init(&p, 0);
    p.fail_emit = true;
    assert_int_equal(feed(&p, 3, 1), CDC_ERR_QUEUE_FULL);
    assert_int_equal(p.rres[3], CDC_REORDER_HELD); /* kept, not lost */
    assert_int_equal(feed(&p, 7, 2), CDC_ERR_QUEUE_FULL);
    assert_int_equal(feed(&p, 6, 3), CDC_ERR_QUEUE_FULL);
    assert_int_equal(cdc_reorder_stats(p.ro).held, 3);
    assert_int_equal(p.out.n, 0);
    char err[128];
    assert_int_equal(cdc_reorder_release(p.ro, 4, err, sizeof err),
                     CDC_ERR_QUEUE_FULL);
    p.fail_emit = false;
    assert_int_equal(cdc_reorder_release(p.ro, 5, err, sizeof err), CDC_OK);
    assert_int_equal(p.out.n, 3);
    assert_int_equal(p.out.e[0].line, 3);
    assert_int_equal(p.out.e[1].line, 7);
    assert_int_equal(p.out.e[2].line, 6);
    assert_int_equal(cdc_reorder_stats(p.ro).emitted, 3);
    pipe_free(&p);
}

static void test_unkeyable_records_rejected(void **state)
{
    (void)state;
    simple_t s;
    cdc_reorder_t *ro = simple_new(&s, 0);
    char err[512];
    cdc_reorder_result_t res;
    const char *no_after = mutate(1, "\"after\":{\"id\":\"ev-002\"",
                                  "\"after\":null,\"x\":{\"id\":\"ev-002\"");
    assert_int_equal(push_text(ro, no_after, 1, 0, &res, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "public.event_headers txId "
                                "aaqsd4fgh5jk2lmn3opq7rstuv: op \"c\" without "
                                "an after image"));
    const char *no_item = mutate(2, "\"item_id\":1,", "");
    assert_int_equal(push_text(ro, no_item, 2, 0, &res, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "key column item_id is missing from the "
                                "after image"));
    const char *del = mutate(29, "audit_log", "event_headers");
    assert_int_equal(push_text(ro, del, 3, 0, &res, err, sizeof err),
                     CDC_ERR_PARSE);
    assert_non_null(strstr(err, "delete without a before image"));
    cdc_cdcrec_t rec;
    assert_int_equal(cdc_cdcrec_parse(lines[16], strlen(lines[16]), &rec, err,
                                      sizeof err), CDC_OK);
    assert_int_equal(cdc_reorder_push(ro, &rec, 16, 0, &res, err, sizeof err),
                     CDC_ERR_INVALID_ARG);
    assert_null(rec.root);
    assert_int_equal(s.n, 0);
    assert_int_equal(cdc_reorder_stats(ro).keys, 0);
    cdc_reorder_destroy(ro);
}

/* A value that does not fit its hint is passed inferred and counted. */
static void test_hint_mismatch_falls_back(void **state)
{
    (void)state;
    simple_t s;
    cdc_reorder_t *ro = simple_new(&s, 0);
    cdc_reorder_set_type(ro, "public", "order_items", "price",
                         CDC_PGOID_INT4);
    push_line(ro, 2, 0, CDC_OK);
    assert_non_null(strstr(s.value, "\"price\":\"19.90\""));
    assert_int_equal(cdc_reorder_stats(ro).hint_mismatch, 1);
    cdc_reorder_destroy(ro);
}

/* Over max_held the oldest are released early; nothing is lost. */
static void test_max_held(void **state)
{
    (void)state;
    pipe_t p;
    cdc_reorder_opts_t o = {.window_ms = INT64_C(1) << 40, .max_held = 4};
    pipe_init_opts(&p, &o);
    for (int i = 1; i <= 6; i++)
        feed_ok(&p, i, i);
    assert_true(cdc_reorder_stats(p.ro).held <= 4);
    assert_true(p.out.n >= 2);
    flush_ok(&p);
    assert_int_equal(p.out.n, 6);
    pipe_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_restores_section_a),
        cmocka_unit_test(test_unbounded_window_restores_section_a),
        cmocka_unit_test(test_no_window_follows_section_c),
        cmocka_unit_test(test_restart_anywhere_changes_nothing),
        cmocka_unit_test(test_export_tracks_delivery),
        cmocka_unit_test(test_import_rejects_malformed),
        cmocka_unit_test(test_shuffled_with_duplicates),
        cmocka_unit_test(test_flat_record_as_the_poller_writes_it),
        cmocka_unit_test(test_no_key_tables_and_filter),
        cmocka_unit_test(test_unknown_op_after_delete_is_create),
        cmocka_unit_test(test_equal_commit_time_orders_by_txid),
        cmocka_unit_test(test_retention_horizon),
        cmocka_unit_test(test_backpressure_keeps_order),
        cmocka_unit_test(test_unkeyable_records_rejected),
        cmocka_unit_test(test_hint_mismatch_falls_back),
        cmocka_unit_test(test_max_held),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
