/*
 * store.c - file offset store (see store.h).
 *
 * File format: {"version":1,"connector":NAME,"tables":{"schema.table":POS}}.
 */
#include "offsets/store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cdc_offset_store {
    char *path;
    json_t *tables; /* object: table -> position */
    bool dirty;
};

cdc_offset_store_t *cdc_offsets_open(const char *path, char *errstr,
                                     size_t n, cdc_err_t *err)
{
    cdc_offset_store_t *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        *err = cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (access(path, F_OK) == 0) {
            *err = cdc_err_set(errstr, n, CDC_ERR_PARSE,
                               "offset file %s is unreadable (%s at line %d); "
                               "fix or move it (dsqlcdc offsets reset)",
                               path, jerr.text, jerr.line);
            cdc_offsets_close(s);
            return NULL;
        }
        s->tables = json_object();
    } else {
        json_t *t = json_object_get(root, "tables");
        if (!json_is_object(t)) {
            json_decref(root);
            *err = cdc_err_set(errstr, n, CDC_ERR_PARSE,
                               "offset file %s has no \"tables\" object", path);
            cdc_offsets_close(s);
            return NULL;
        }
        s->tables = json_incref(t);
        json_decref(root);
    }
    *err = CDC_OK;
    return s;
}

void cdc_offsets_close(cdc_offset_store_t *s)
{
    if (!s)
        return;
    json_decref(s->tables);
    free(s->path);
    free(s);
}

json_t *cdc_offsets_get(const cdc_offset_store_t *s, const char *table)
{
    return json_object_get(s->tables, table);
}

cdc_err_t cdc_offsets_put(cdc_offset_store_t *s, const char *table, json_t *pos)
{
    if (!pos) {
        if (json_object_del(s->tables, table) == 0)
            s->dirty = true;
        return CDC_OK;
    }
    json_t *old = json_object_get(s->tables, table);
    if (old && json_equal(old, pos))
        return CDC_OK;
    if (json_object_set(s->tables, table, pos) != 0)
        return CDC_ERR_NOMEM;
    s->dirty = true;
    return CDC_OK;
}

static cdc_err_t fsync_dir(const char *path, char *errstr, size_t n)
{
    char *copy = strdup(path);
    if (!copy)
        return CDC_ERR_NOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    cdc_err_t err = CDC_OK;
    if (fd < 0 || fsync(fd) != 0)
        err = cdc_err_set(errstr, n, CDC_ERR_IO, "fsync of %s's directory: %s",
                          path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return err;
}

/* Writes the document through a small buffer: positions can carry
 * megabytes of emitted-set checkpoint, never copied whole here. */
typedef struct {
    int fd;
    char buf[65536];
    size_t len;
    int err; /* errno of the first failed write, else 0 */
} writer_t;

static bool drain(writer_t *w)
{
    size_t off = 0;
    while (!w->err && off < w->len) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0 && errno != EINTR)
            w->err = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    w->len = 0;
    return !w->err;
}

static int put_text(const char *text, size_t len, void *ud)
{
    writer_t *w = ud;
    while (len) {
        if (w->len == sizeof w->buf && !drain(w))
            return -1;
        size_t take = sizeof w->buf - w->len;
        if (take > len)
            take = len;
        memcpy(w->buf + w->len, text, take);
        w->len += take;
        text += take;
        len -= take;
    }
    return 0;
}

cdc_err_t cdc_offsets_flush(cdc_offset_store_t *s, char *errstr, size_t n)
{
    if (!s->dirty)
        return CDC_OK;
    json_t *root = json_pack("{s:i,s:O}", "version", 1, "tables", s->tables);
    if (!root)
        return cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    cdc_err_t err = CDC_OK;
    writer_t *w = malloc(sizeof *w);
    int fd = w ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (fd < 0) {
        err = w ? cdc_err_set(errstr, n, CDC_ERR_IO, "cannot write offsets to "
                              "%s: %s (check offset.storage.file.filename)",
                              tmp, strerror(errno))
                : cdc_err_set(errstr, n, CDC_ERR_NOMEM, "out of memory");
        goto out;
    }
    w->fd = fd;
    w->len = 0;
    w->err = 0;
    bool dumped = json_dump_callback(root, put_text, w,
                                     JSON_INDENT(2) | JSON_SORT_KEYS) == 0 &&
                  put_text("\n", 1, w) == 0 && drain(w);
    if (w->err)
        err = cdc_err_set(errstr, n, CDC_ERR_IO, "write %s: %s", tmp,
                          strerror(w->err));
    else if (!dumped)
        err = cdc_err_set(errstr, n, CDC_ERR_NOMEM, "write %s: out of memory",
                          tmp);
    else if (fsync(fd) != 0)
        err = cdc_err_set(errstr, n, CDC_ERR_IO, "fsync %s: %s", tmp,
                          strerror(errno));
    close(fd);
    if (err == CDC_OK && rename(tmp, s->path) != 0)
        err = cdc_err_set(errstr, n, CDC_ERR_IO, "rename %s to %s: %s", tmp,
                          s->path, strerror(errno));
    if (err == CDC_OK)
        err = fsync_dir(s->path, errstr, n);
    if (err == CDC_OK)
        s->dirty = false;
    else
        unlink(tmp);
out:
    free(w);
    json_decref(root);
    return err;
}

static cdc_offset_store_t *open_configured(const cdc_config_t *c, char *errstr,
                                           size_t n, cdc_err_t *err)
{
    return cdc_offsets_open(cdc_config_str(c, CDC_KEY_OFFSET_FILE), errstr, n,
                            err);
}

cdc_err_t cdc_offsets_cli_show(const cdc_config_t *c, FILE *out, char *errstr,
                               size_t n)
{
    cdc_err_t err;
    cdc_offset_store_t *s = open_configured(c, errstr, n, &err);
    if (!s)
        return err;
    const char *table;
    json_t *pos;
    if (json_object_size(s->tables) == 0)
        fprintf(out, "no stored offsets in %s\n", s->path);
    json_object_foreach(s->tables, table, pos) {
        char *text = json_dumps(pos, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(out, "%s\t%s\n", table, text ? text : "?");
        free(text);
    }
    cdc_offsets_close(s);
    return CDC_OK;
}

cdc_err_t cdc_offsets_cli_reset(const cdc_config_t *c, const char *table,
                                const char *to_timestamp, FILE *out,
                                char *errstr, size_t n)
{
    cdc_err_t err;
    cdc_offset_store_t *s = open_configured(c, errstr, n, &err);
    if (!s)
        return err;
    /* Unqualified names mean the configured schema, as in dsql.tables;
     * "stream:<name>" is the stream source's entry. */
    char qualified[512];
    if (strchr(table, '.') || strncmp(table, "stream:", 7) == 0)
        snprintf(qualified, sizeof qualified, "%s", table);
    else
        snprintf(qualified, sizeof qualified, "%s.%s",
                 cdc_config_str(c, CDC_KEY_SCHEMA), table);
    json_t *pos = NULL;
    if (to_timestamp)
        pos = json_pack("{s:s,s:n}", "ts", to_timestamp, "key");
    err = cdc_offsets_put(s, qualified, pos);
    json_decref(pos);
    s->dirty = true;
    if (err == CDC_OK)
        err = cdc_offsets_flush(s, errstr, n);
    if (err == CDC_OK) {
        if (to_timestamp)
            fprintf(out, "%s: reset to start at %s\n", qualified, to_timestamp);
        else
            fprintf(out, "%s: offset removed; it starts per dsql.start.mode\n",
                    qualified);
    }
    cdc_offsets_close(s);
    return err;
}
