/*
 * metrics.h - the metric registry and its Prometheus text rendering.
 *
 * Owns per-task (one per table) counters, gauges and a poll-latency
 * histogram, a few daemon-wide counters, and the sliding-window rates. The
 * hot path updates plain struct fields (no calls, no locks: the main loop
 * owns the registry). Does not serve HTTP (see rest.h) and does not know
 * task states beyond the status string the daemon sets.
 *
 * Names. Where Kafka Connect has a metric for the same thing, the series is
 * named the way the Prometheus JMX exporter's default rule names the MBean
 * attribute: kafka.connect<type=G, connector=C, task=T><>A becomes
 * kafka_connect_G_A (lower case, '-' -> '_') with labels connector and task,
 * so dashboards built on a Connect worker keep working:
 *
 *   rows_polled            kafka_connect_source_task_metrics_source_record_poll_total
 *   poll_rate              kafka_connect_source_task_metrics_source_record_poll_rate
 *   records_written        kafka_connect_source_task_metrics_source_record_write_total
 *   write_rate             kafka_connect_source_task_metrics_source_record_write_rate
 *   encode_errors_skipped  kafka_connect_task_error_metrics_total_records_skipped
 *   status                 kafka_connect_connector_status{status="running"} 1
 *                          (the string attribute as the widely used Strimzi
 *                          rule exports it)
 *
 * Every other series is ours and starts with dsqlcdc_ (base units: seconds):
 * dsqlcdc_task_delivery_errors_total, dsqlcdc_task_rescan_duplicates_
 * suppressed_total, dsqlcdc_task_late_rows_total, dsqlcdc_task_watermark_age_
 * seconds, dsqlcdc_task_change_to_delivery_lag_seconds, dsqlcdc_task_window_
 * versions, dsqlcdc_task_poll_duration_seconds (histogram), dsqlcdc_active_
 * endpoint{endpoint=...} 1, dsqlcdc_failovers_total, dsqlcdc_token_refreshes_
 * total, dsqlcdc_connection_recycles_total, dsqlcdc_connections_open.
 * Task series carry the labels connector, task and table.
 */
#ifndef CDC_HTTP_METRICS_H
#define CDC_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Rates are computed over this window, from samples taken at most once per
 * CDC_METRICS_SAMPLE_MS by cdc_metrics_tick(). */
#define CDC_METRICS_RATE_WINDOW_MS 60000
#define CDC_METRICS_SAMPLE_MS 1000

/* Upper bounds (seconds) of the poll-latency histogram buckets; a last,
 * implicit bucket is +Inf. */
#define CDC_METRICS_POLL_BUCKETS 12
extern const double cdc_metrics_poll_bounds[CDC_METRICS_POLL_BUCKETS];

/* One task's metrics. Callers write the counters and gauges directly. */
typedef struct cdc_task_metrics {
    /* counters: only ever increase */
    uint64_t rows_polled;           /* rows read from the table */
    uint64_t records_written;       /* records delivered (acked by the sink) */
    uint64_t delivery_errors;       /* sink delivery failures */
    uint64_t rescan_duplicates_suppressed; /* re-scan rows already emitted */
    uint64_t late_rows;             /* rows first found by the re-scan */
    uint64_t encode_errors_skipped; /* rows skipped: could not be encoded */

    /* gauges */
    double watermark_age_seconds;   /* now - safe watermark */
    uint64_t change_to_delivery_lag_ms; /* last record: change ts -> ack */
    uint64_t window_versions;       /* entries held by the re-scan dedup set */

    /* Kafka Connect task status in lower case ("running", "paused",
     * "failed", "unassigned", "restarting"); a static string the registry
     * does not own. NULL: the status series is left out. */
    const char *status;

    /* Poll latency: per-bucket (not cumulative) counts, the last one for
     * +Inf. Use cdc_metrics_observe_poll(). */
    uint64_t poll_buckets[CDC_METRICS_POLL_BUCKETS + 1];
    double poll_seconds_sum;
    uint64_t poll_count;

    /* Written by cdc_metrics_tick(), read-only elsewhere: records per
     * second over the rate window. */
    double poll_rate;
    double write_rate;
} cdc_task_metrics_t;

/* Daemon-wide metrics. Callers write the fields directly. */
typedef struct {
    uint64_t failovers_total;           /* primary <-> secondary switches */
    uint64_t token_refreshes_total;     /* DSQL auth tokens generated */
    uint64_t connection_recycles_total; /* connections closed for age */
    uint64_t connections_open;          /* gauge */
} cdc_daemon_metrics_t;

typedef struct cdc_metrics cdc_metrics_t;

/*
 * A registry for connector `connector` with one task per entry of
 * tables[0..ntasks) (task i is tables[i]; both strings are copied).
 * NULL on allocation failure.
 */
cdc_metrics_t *cdc_metrics_new(const char *connector,
                               const char *const *tables, size_t ntasks);
void cdc_metrics_destroy(cdc_metrics_t *m);

size_t cdc_metrics_task_count(const cdc_metrics_t *m);
/* Task i's metrics (i < task count), valid until destroy. */
cdc_task_metrics_t *cdc_metrics_task(cdc_metrics_t *m, size_t i);
cdc_daemon_metrics_t *cdc_metrics_daemon(cdc_metrics_t *m);

/* The endpoint now in use (copied; NULL or "" = none, series left out). */
cdc_err_t cdc_metrics_set_active_endpoint(cdc_metrics_t *m,
                                          const char *endpoint);

/* Count one poll that took `seconds`. */
void cdc_metrics_observe_poll(cdc_task_metrics_t *t, double seconds);

/*
 * Advance the rate window to now_ms (any monotonic millisecond clock; the
 * loop calls it at least once per second). A rate is (counter now - counter
 * at the oldest sample within the window) / (time since that sample); 0
 * until a sample at least one tick old exists. A clock that goes backwards
 * restarts the window.
 */
void cdc_metrics_tick(cdc_metrics_t *m, int64_t now_ms);

/* Append the Prometheus text exposition (format 0.0.4) to out. */
cdc_err_t cdc_metrics_render(const cdc_metrics_t *m, cdc_buf_t *out);

#endif
