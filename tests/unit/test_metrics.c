/*
 * test_metrics.c - the metric registry: exact Prometheus exposition text for
 * two tasks (label escaping, cumulative histogram buckets, families grouped
 * with one HELP/TYPE each) and the sliding-window rate math on an injected
 * clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/metrics.h"

static const char *const two_tables[] = {
    "public.event_headers",
    "public.\"Odd\\Name\n", /* quote, backslash, newline: must be escaped */
};

static const char expected_two_tasks[] =
    "# HELP kafka_connect_source_task_metrics_source_record_poll_total Rows read from the table (Kafka Connect source-record-poll-total).\n"
    "# TYPE kafka_connect_source_task_metrics_source_record_poll_total counter\n"
    "kafka_connect_source_task_metrics_source_record_poll_total{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 1500\n"
    "kafka_connect_source_task_metrics_source_record_poll_total{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 10\n"
    "# HELP kafka_connect_source_task_metrics_source_record_poll_rate Rows read per second over the last minute (Kafka Connect source-record-poll-rate).\n"
    "# TYPE kafka_connect_source_task_metrics_source_record_poll_rate gauge\n"
    "kafka_connect_source_task_metrics_source_record_poll_rate{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 30\n"
    "kafka_connect_source_task_metrics_source_record_poll_rate{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP kafka_connect_source_task_metrics_source_record_write_total Records delivered to the sink (Kafka Connect source-record-write-total).\n"
    "# TYPE kafka_connect_source_task_metrics_source_record_write_total counter\n"
    "kafka_connect_source_task_metrics_source_record_write_total{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 1490\n"
    "kafka_connect_source_task_metrics_source_record_write_total{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP kafka_connect_source_task_metrics_source_record_write_rate Records delivered per second over the last minute (Kafka Connect source-record-write-rate).\n"
    "# TYPE kafka_connect_source_task_metrics_source_record_write_rate gauge\n"
    "kafka_connect_source_task_metrics_source_record_write_rate{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 2.5\n"
    "kafka_connect_source_task_metrics_source_record_write_rate{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP kafka_connect_task_error_metrics_total_records_skipped Rows skipped because they could not be encoded (Kafka Connect total-records-skipped).\n"
    "# TYPE kafka_connect_task_error_metrics_total_records_skipped counter\n"
    "kafka_connect_task_error_metrics_total_records_skipped{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 1\n"
    "kafka_connect_task_error_metrics_total_records_skipped{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP dsqlcdc_task_delivery_errors_total Records the sink failed to deliver.\n"
    "# TYPE dsqlcdc_task_delivery_errors_total counter\n"
    "dsqlcdc_task_delivery_errors_total{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 2\n"
    "dsqlcdc_task_delivery_errors_total{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP dsqlcdc_task_rescan_duplicates_suppressed_total Rows the late-commit re-scan found already emitted.\n"
    "# TYPE dsqlcdc_task_rescan_duplicates_suppressed_total counter\n"
    "dsqlcdc_task_rescan_duplicates_suppressed_total{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 7\n"
    "dsqlcdc_task_rescan_duplicates_suppressed_total{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP dsqlcdc_task_late_rows_total Rows first found by the late-commit re-scan.\n"
    "# TYPE dsqlcdc_task_late_rows_total counter\n"
    "dsqlcdc_task_late_rows_total{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 3\n"
    "dsqlcdc_task_late_rows_total{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP dsqlcdc_task_watermark_age_seconds Age of the safe watermark: everything older is complete.\n"
    "# TYPE dsqlcdc_task_watermark_age_seconds gauge\n"
    "dsqlcdc_task_watermark_age_seconds{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 12.5\n"
    "dsqlcdc_task_watermark_age_seconds{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0.1\n"
    "# HELP dsqlcdc_task_change_to_delivery_lag_seconds Time from a change's own timestamp (the cursor column, or the CDC commit time) to its acknowledgement by Kafka, for a recently delivered change.\n"
    "# TYPE dsqlcdc_task_change_to_delivery_lag_seconds gauge\n"
    "dsqlcdc_task_change_to_delivery_lag_seconds{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 0.25\n"
    "dsqlcdc_task_change_to_delivery_lag_seconds{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP dsqlcdc_task_window_versions Row versions held by the re-scan window's dedup set.\n"
    "# TYPE dsqlcdc_task_window_versions gauge\n"
    "dsqlcdc_task_window_versions{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 42\n"
    "dsqlcdc_task_window_versions{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0\n"
    "# HELP kafka_connect_connector_status Task status: 1 for the current one (Kafka Connect connector-task-metrics status).\n"
    "# TYPE kafka_connect_connector_status gauge\n"
    "kafka_connect_connector_status{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",status=\"running\"} 1\n"
    "# HELP dsqlcdc_task_poll_duration_seconds Time one poll of the table took.\n"
    "# TYPE dsqlcdc_task_poll_duration_seconds histogram\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.001\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.0025\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.005\"} 3\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.01\"} 3\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.025\"} 3\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.05\"} 3\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.1\"} 3\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.25\"} 4\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"0.5\"} 4\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"1\"} 4\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"2.5\"} 4\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"5\"} 4\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\",le=\"+Inf\"} 5\n"
    "dsqlcdc_task_poll_duration_seconds_sum{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 7.2085\n"
    "dsqlcdc_task_poll_duration_seconds_count{connector=\"dsql-cdc-source\",task=\"0\",table=\"public.event_headers\"} 5\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.001\"} 0\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.0025\"} 0\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.005\"} 0\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.01\"} 0\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.025\"} 0\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.05\"} 0\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.1\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.25\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"0.5\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"1\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"2.5\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"5\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\",le=\"+Inf\"} 1\n"
    "dsqlcdc_task_poll_duration_seconds_sum{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 0.1\n"
    "dsqlcdc_task_poll_duration_seconds_count{connector=\"dsql-cdc-source\",task=\"1\",table=\"public.\\\"Odd\\\\Name\\n\"} 1\n"
    "# HELP dsqlcdc_active_endpoint The database endpoint in use (value always 1).\n"
    "# TYPE dsqlcdc_active_endpoint gauge\n"
    "dsqlcdc_active_endpoint{connector=\"dsql-cdc-source\",endpoint=\"abc.dsql.us-east-1.on.aws\"} 1\n"
    "# HELP dsqlcdc_failovers_total Switches between primary and secondary endpoint.\n"
    "# TYPE dsqlcdc_failovers_total counter\n"
    "dsqlcdc_failovers_total{connector=\"dsql-cdc-source\"} 1\n"
    "# HELP dsqlcdc_token_refreshes_total DSQL authentication tokens generated.\n"
    "# TYPE dsqlcdc_token_refreshes_total counter\n"
    "dsqlcdc_token_refreshes_total{connector=\"dsql-cdc-source\"} 5\n"
    "# HELP dsqlcdc_connection_recycles_total Database connections closed for reaching their maximum age.\n"
    "# TYPE dsqlcdc_connection_recycles_total counter\n"
    "dsqlcdc_connection_recycles_total{connector=\"dsql-cdc-source\"} 2\n"
    "# HELP dsqlcdc_connections_open Database connections open now.\n"
    "# TYPE dsqlcdc_connections_open gauge\n"
    "dsqlcdc_connections_open{connector=\"dsql-cdc-source\"} 3\n";

/* Print the first differing line, so a failure says where. */
static void assert_text(const char *want, const char *got)
{
    if (strcmp(want, got) == 0)
        return;
    size_t line = 1, i = 0;
    while (want[i] && want[i] == got[i]) {
        if (want[i] == '\n')
            line++;
        i++;
    }
    size_t ws = i, gs = i;
    while (ws && want[ws - 1] != '\n')
        ws--;
    while (gs && got[gs - 1] != '\n')
        gs--;
    print_error("exposition differs at line %zu\n want: %.*s\n  got: %.*s\n",
                line, (int)strcspn(want + ws, "\n"), want + ws,
                (int)strcspn(got + gs, "\n"), got + gs);
    fail();
}

static void test_exposition_two_tasks(void **state)
{
    cdc_metrics_t *m = cdc_metrics_new("dsql-cdc-source", two_tables, 2);
    assert_non_null(m);
    assert_int_equal(cdc_metrics_task_count(m), 2);
    assert_null(cdc_metrics_task(m, 2));

    cdc_task_metrics_t *t0 = cdc_metrics_task(m, 0);
    cdc_task_metrics_t *t1 = cdc_metrics_task(m, 1);
    t0->rows_polled = 1440;
    t0->records_written = 1485;
    t1->rows_polled = 10;
    cdc_metrics_tick(m, 5000);
    t0->rows_polled = 1500;   /* +60 in 2 s */
    t0->records_written = 1490; /* +5 in 2 s */
    cdc_metrics_tick(m, 7000);

    t0->delivery_errors = 2;
    t0->rescan_duplicates_suppressed = 7;
    t0->late_rows = 3;
    t0->encode_errors_skipped = 1;
    t0->watermark_age_seconds = 12.5;
    t0->change_to_delivery_lag_ms = 250;
    t0->window_versions = 42;
    t0->status = "running";
    t1->watermark_age_seconds = 0.1;

    /* le is inclusive: 0.005 lands in the 0.005 bucket; 7 only in +Inf. */
    cdc_metrics_observe_poll(t0, 0.0005);
    cdc_metrics_observe_poll(t0, 0.003);
    cdc_metrics_observe_poll(t0, 0.005);
    cdc_metrics_observe_poll(t0, 0.2);
    cdc_metrics_observe_poll(t0, 7);
    cdc_metrics_observe_poll(t1, 0.1);

    cdc_daemon_metrics_t *d = cdc_metrics_daemon(m);
    d->failovers_total = 1;
    d->token_refreshes_total = 5;
    d->connection_recycles_total = 2;
    d->connections_open = 3;
    assert_int_equal(cdc_metrics_set_active_endpoint(m, "abc.dsql.us-east-1.on.aws"),
                     CDC_OK);

    cdc_buf_t b;
    cdc_buf_init(&b);
    assert_int_equal(cdc_buf_puts(&b, "prefix\n"), CDC_OK);
    assert_int_equal(cdc_metrics_render(m, &b), CDC_OK);
    /* render appends */
    assert_memory_equal(b.data, "prefix\n", 7);
    assert_text(expected_two_tasks, b.data + 7);
    cdc_buf_free(&b);
    cdc_metrics_destroy(m);
}

/* Without an endpoint or any status, those series are left out. */
static void test_exposition_optional_series(void **state)
{
    const char *tables[] = {"public.t"};
    cdc_metrics_t *m = cdc_metrics_new("c", tables, 1);
    assert_non_null(m);
    assert_int_equal(cdc_metrics_set_active_endpoint(m, "h1"), CDC_OK);
    assert_int_equal(cdc_metrics_set_active_endpoint(m, NULL), CDC_OK);
    cdc_buf_t b;
    cdc_buf_init(&b);
    assert_int_equal(cdc_metrics_render(m, &b), CDC_OK);
    assert_null(strstr(b.data, "dsqlcdc_active_endpoint"));
    assert_null(strstr(b.data, "kafka_connect_connector_status"));
    assert_non_null(strstr(b.data, "\ndsqlcdc_connections_open{connector=\"c\"} 0\n"));
    /* every series line belongs to the family announced just before it */
    char family[128] = "";
    for (char *line = b.data; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t n = strcspn(line + 7, " ");
            snprintf(family, sizeof(family), "%.*s", (int)n, line + 7);
        } else if (line[0] != '#') {
            assert_true(family[0]);
            assert_int_equal(strncmp(line, family, strlen(family)), 0);
        }
        line = nl + 1;
    }
    cdc_buf_free(&b);
    cdc_metrics_destroy(m);
}

static void test_rates_sliding_window(void **state)
{
    const char *tables[] = {"public.t"};
    cdc_metrics_t *m = cdc_metrics_new("c", tables, 1);
    assert_non_null(m);
    cdc_task_metrics_t *t = cdc_metrics_task(m, 0);

    /* First tick: no earlier sample, so no rate yet. */
    t->rows_polled = 1000;
    cdc_metrics_tick(m, 100000);
    assert_true(t->poll_rate == 0);

    /* 120 rows in 1 s. */
    t->rows_polled = 1120;
    t->records_written = 60;
    cdc_metrics_tick(m, 101000);
    assert_true(t->poll_rate == 120);
    assert_true(t->write_rate == 60);

    /* Ticks closer than the sampling interval take no sample, but the rate
     * still uses the current counter against the oldest sample. */
    t->rows_polled = 1150;
    cdc_metrics_tick(m, 101500);
    assert_true(t->poll_rate == 100); /* 150 rows / 1.5 s */

    /* 200 rows per second, steadily, for two minutes: once the first minute
     * has passed the burst above falls out of the window. */
    int64_t now = 101500;
    uint64_t rows = 1150;
    for (int i = 0; i < 120; i++) {
        now += 1000;
        rows += 200;
        t->rows_polled = rows;
        cdc_metrics_tick(m, now);
    }
    assert_true(t->poll_rate == 200);

    /* Stop: after 30 s the window holds 30 s of 200/s and 30 s of 0. */
    for (int i = 0; i < 30; i++) {
        now += 1000;
        cdc_metrics_tick(m, now);
    }
    assert_true(t->poll_rate == 100);
    /* After another 30 s (61 s with no rows since the oldest sample at
     * exactly now - 60 s) the rate is 0. */
    for (int i = 0; i < 31; i++) {
        now += 1000;
        cdc_metrics_tick(m, now);
    }
    assert_true(t->poll_rate == 0);

    /* A long stall empties the window: no base sample, rate 0, then the
     * next tick measures again. */
    t->rows_polled += 500;
    now += 10 * 60 * 1000;
    cdc_metrics_tick(m, now);
    assert_true(t->poll_rate == 0);
    t->rows_polled += 50;
    now += 500;
    cdc_metrics_tick(m, now);
    assert_true(t->poll_rate == 100); /* 50 rows / 0.5 s */

    /* Clock going backwards restarts the window. */
    cdc_metrics_tick(m, now - 5000);
    assert_true(t->poll_rate == 0);
    t->rows_polled += 10;
    cdc_metrics_tick(m, now - 4000);
    assert_true(t->poll_rate == 10);

    cdc_metrics_destroy(m);
}

static void test_histogram_edges(void **state)
{
    const char *tables[] = {"t"};
    cdc_metrics_t *m = cdc_metrics_new("c", tables, 1);
    assert_non_null(m);
    cdc_task_metrics_t *t = cdc_metrics_task(m, 0);
    for (size_t i = 0; i < CDC_METRICS_POLL_BUCKETS; i++)
        cdc_metrics_observe_poll(t, cdc_metrics_poll_bounds[i]);
    cdc_metrics_observe_poll(t, 0);
    cdc_metrics_observe_poll(t, 1e9);
    for (size_t i = 0; i < CDC_METRICS_POLL_BUCKETS; i++)
        assert_int_equal(t->poll_buckets[i], i == 0 ? 2 : 1);
    assert_int_equal(t->poll_buckets[CDC_METRICS_POLL_BUCKETS], 1);
    assert_int_equal(t->poll_count, CDC_METRICS_POLL_BUCKETS + 2);

    cdc_buf_t b;
    cdc_buf_init(&b);
    assert_int_equal(cdc_metrics_render(m, &b), CDC_OK);
    assert_non_null(strstr(b.data,
        "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"c\",task=\"0\","
        "table=\"t\",le=\"0.5\"} 10\n"));
    assert_non_null(strstr(b.data,
        "dsqlcdc_task_poll_duration_seconds_bucket{connector=\"c\",task=\"0\","
        "table=\"t\",le=\"+Inf\"} 14\n"));
    assert_non_null(strstr(b.data,
        "dsqlcdc_task_poll_duration_seconds_sum{connector=\"c\",task=\"0\","
        "table=\"t\"} 1000000009.4435\n"));
    cdc_buf_free(&b);
    cdc_metrics_destroy(m);
}

static void test_no_tasks(void **state)
{
    cdc_metrics_t *m = cdc_metrics_new("c", NULL, 0);
    assert_non_null(m);
    cdc_metrics_tick(m, 1);
    cdc_buf_t b;
    cdc_buf_init(&b);
    assert_int_equal(cdc_metrics_render(m, &b), CDC_OK);
    assert_non_null(strstr(b.data, "dsqlcdc_failovers_total{connector=\"c\"} 0\n"));
    assert_null(strstr(b.data, "task=\""));
    cdc_buf_free(&b);
    cdc_metrics_destroy(m);
    cdc_metrics_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_two_tasks),
        cmocka_unit_test(test_exposition_optional_series),
        cmocka_unit_test(test_rates_sliding_window),
        cmocka_unit_test(test_histogram_edges),
        cmocka_unit_test(test_no_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
