/*
 * flat.c - flat JSON record value and key (see flat.h).
 */
#include "encode/flat.h"

#include <string.h>

#include "encode/jsonw.h"
#include "encode/pgtypes.h"

/* Drop whatever was appended to out after mark. */
static void truncate_to(cdc_buf_t *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

/*
 * Write "name":value for each column (only key columns when keys_only). On
 * failure errstr names the table and the column, and why.
 */
static cdc_err_t put_columns(cdc_jsonw_t *w, const cdc_change_t *ch,
                             bool keys_only, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < ch->ncols; i++) {
        const cdc_column_t *col = &ch->cols[i];
        if (keys_only && !col->is_key)
            continue;
        const char *name = col->name ? col->name : "";
        char why[192];
        why[0] = '\0';
        cdc_err_t err = cdc_jsonw_key_str(w, name);
        if (err == CDC_OK)
            err = cdc_pgtypes_render(w, col->type_oid,
                                     col->is_null ? NULL : col->value,
                                     col->len, why, sizeof(why));
        if (err != CDC_OK) {
            const char *schema = ch->schema ? ch->schema : "";
            return cdc_err_set(errstr, errstr_size, err,
                               "table %s%s%s column %s: %s", schema,
                               *schema ? "." : "", ch->table ? ch->table : "",
                               name, why[0] ? why : cdc_err_str(err));
        }
    }
    return CDC_OK;
}

cdc_err_t cdc_flat_encode_value(const cdc_change_t *ch, cdc_buf_t *out,
                                char *errstr, size_t errstr_size)
{
    size_t mark = out->len;
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, out);

    cdc_jsonw_object_begin(&w);
    cdc_err_t err = put_columns(&w, ch, false, errstr, errstr_size);
    if (err != CDC_OK) {
        truncate_to(out, mark);
        return err;
    }
    char op = (char)ch->op;
    const char *table = ch->table ? ch->table : "";
    cdc_jsonw_key(&w, "__op", 4);
    cdc_jsonw_string(&w, &op, 1);
    cdc_jsonw_key(&w, "__table", 7);
    cdc_jsonw_string(&w, table, strlen(table));
    cdc_jsonw_key(&w, "__ts_ms", 7);
    cdc_jsonw_int(&w, ch->ts_ms);
    cdc_jsonw_object_end(&w);
    if ((err = cdc_jsonw_finish(&w)) != CDC_OK) {
        truncate_to(out, mark);
        return cdc_err_set(errstr, errstr_size, err, "table %s: %s", table,
                           cdc_err_str(err));
    }
    return CDC_OK;
}

bool cdc_flat_has_key(const cdc_change_t *ch)
{
    for (size_t i = 0; i < ch->ncols; i++)
        if (ch->cols[i].is_key)
            return true;
    return false;
}

cdc_err_t cdc_flat_encode_key(const cdc_change_t *ch, cdc_buf_t *out,
                              char *errstr, size_t errstr_size)
{
    if (!cdc_flat_has_key(ch))
        return CDC_OK;

    size_t mark = out->len;
    cdc_jsonw_t w;
    cdc_jsonw_init(&w, out);

    cdc_jsonw_object_begin(&w);
    cdc_err_t err = put_columns(&w, ch, true, errstr, errstr_size);
    if (err == CDC_OK) {
        cdc_jsonw_object_end(&w);
        if ((err = cdc_jsonw_finish(&w)) != CDC_OK)
            err = cdc_err_set(errstr, errstr_size, err, "table %s key: %s",
                              ch->table ? ch->table : "", cdc_err_str(err));
    }
    if (err != CDC_OK)
        truncate_to(out, mark);
    return err;
}
