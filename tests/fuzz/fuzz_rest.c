/*
 * fuzz_rest.c - libFuzzer target for the REST router and handlers
 * (cdc_rest_dispatch, the transport-free core the HTTP listener calls).
 * Not part of the normal build; run it with
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Isrc tests/fuzz/fuzz_rest.c src/http/rest.c src/common/buf.c \
 *     src/common/err.c src/common/log.c \
 *     $(pkg-config --cflags --libs libmicrohttpd jansson) -o fuzz_rest
 *   ./fuzz_rest -max_len=4096
 *
 * Input: byte 0 picks the connector/task states, then "METHOD PATH" up to
 * the first '\n' (PATH may carry "?k=v&k" arguments, split but not
 * decoded), the rest is the body. Checked: no crash or sanitizer report; the
 * status is a plausible HTTP code; a JSON content type means the body
 * parses as JSON; an error status carries Connect's error shape.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/rest.h"

static uint8_t knobs;

static cdc_rest_state_t st(void *ud, const char **trace)
{
    *trace = (knobs & 1) ? "trace \xff with bytes" : NULL;
    return (cdc_rest_state_t)((knobs >> 1) % 6);
}

static size_t task_count(void *ud)
{
    return (knobs >> 4) % 4;
}

static void task(void *ud, size_t i, cdc_rest_task_t *out)
{
    out->state = (cdc_rest_state_t)((i + knobs) % 6);
    out->trace = out->state == CDC_REST_FAILED ? "boom" : NULL;
    out->table = (knobs & 0x80) ? NULL : "public.t";
}

static json_t *config(void *ud)
{
    return (knobs & 0x40) ? NULL : json_pack("{s:s}", "name", "c");
}

static cdc_err_t ok(void *ud, char *e, size_t n)
{
    return (knobs & 8) ? cdc_err_set(e, n, CDC_ERR_IO, "refused") : CDC_OK;
}

static cdc_err_t restart(void *ud, bool a, bool b, char *e, size_t n)
{
    return ok(ud, e, n);
}

static cdc_err_t restart_task(void *ud, size_t i, char *e, size_t n)
{
    return ok(ud, e, n);
}

static cdc_err_t offsets_get(void *ud, json_t **out, char *e, size_t n)
{
    *out = json_pack("{s:[]}", "offsets");
    return CDC_OK;
}

static cdc_err_t offsets_alter(void *ud, const json_t *body, char *e,
                               size_t n)
{
    if (!json_is_array(json_object_get(body, "offsets")))
        abort(); /* the router promised a checked body */
    return ok(ud, e, n);
}

static cdc_err_t metrics_text(void *ud, cdc_buf_t *out)
{
    return cdc_buf_puts(out, "x 1\n");
}

static cdc_rest_t *server(void)
{
    static cdc_rest_t *rest;
    if (!rest) {
        cdc_rest_provider_t p = {
            .name = "c", .worker_id = "w:1", .version = "v",
            .connector_state = st, .task_count = task_count, .task = task,
            .config = config, .pause = ok, .resume = ok, .restart = restart,
            .restart_task = restart_task, .offsets_get = offsets_get,
            .offsets_alter = offsets_alter, .offsets_reset = ok,
            .metrics_text = metrics_text,
        };
        char errstr[256];
        rest = cdc_rest_new("127.0.0.1:0", &p, errstr, sizeof(errstr));
        if (!rest) {
            fprintf(stderr, "%s\n", errstr);
            abort();
        }
    }
    return rest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    knobs = data[0];
    data++, size--;

    const uint8_t *nl = memchr(data, '\n', size);
    size_t head_len = nl ? (size_t)(nl - data) : size;
    char *head = malloc(head_len + 1);
    memcpy(head, data, head_len);
    head[head_len] = '\0';

    char *path = strchr(head, ' ');
    if (path)
        *path++ = '\0';
    else
        path = head + head_len;
    cdc_rest_arg_t args[16];
    size_t nargs = 0;
    char *q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        for (char *tok = strtok(q, "&"); tok && nargs < 16;
             tok = strtok(NULL, "&")) {
            char *eq = strchr(tok, '=');
            if (eq)
                *eq++ = '\0';
            args[nargs++] = (cdc_rest_arg_t){tok, eq};
        }
    }
    cdc_rest_request_t req = {
        .method = head,
        .path = path,
        .args = args,
        .nargs = nargs,
        .body = nl ? (const char *)nl + 1 : NULL,
        .body_len = nl ? size - head_len - 1 : 0,
    };
    cdc_rest_response_t resp;
    cdc_rest_dispatch(server(), &req, &resp);

    if (resp.status < 200 || resp.status > 599)
        abort();
    if (resp.content_type && strcmp(resp.content_type, "application/json") == 0) {
        json_t *j = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY,
                               NULL);
        if (!j)
            abort();
        if (resp.status >= 400 &&
            (!json_is_integer(json_object_get(j, "error_code")) ||
             !json_is_string(json_object_get(j, "message"))) &&
            !json_is_string(json_object_get(j, "status"))) /* /health */
            abort();
        json_decref(j);
    }
    cdc_buf_free(&resp.body);
    free(head);
    return 0;
}
