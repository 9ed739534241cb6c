-- bench/load.sql: the event_headers backlog the benchmark captures.
-- psql -v rows=N -f bench/load.sql  (into an empty database)
--
-- N rows over the 7 days that end 15 minutes ago (older than the default
-- dsql.lookback.ms, as a backlog is), inserted in saved_date order, with ties the way
-- writers make them. Within every 10,000 rows: 6,000 single-row
-- transactions, 300 of 10 rows, 5 of 100 and one of 500 rows; and every
-- 100,000 rows start with one 5,000-row bulk load sharing one timestamp (a
-- tie longer than a 1,000-row page). 80% creates (created_date =
-- saved_date), 20% updates. Row JSON ~400 bytes, header_data ~200.
-- Deterministic for a given N, apart from the time it is run. rows=0: the
-- table and its index only.
\set ON_ERROR_STOP 1
CREATE TABLE event_headers (
  id text PRIMARY KEY,
  event_name text NOT NULL,
  event_type text NOT NULL,
  created_date timestamptz NOT NULL,
  saved_date timestamptz NOT NULL,
  header_data jsonb);

SELECT :rows > 0 AS fill \gset
\if :fill
INSERT INTO event_headers
SELECT s.id,
       (ARRAY['OrderPlaced','OrderShipped','PaymentReceived','InvoiceIssued','CustomerUpdated'])[1 + s.g % 5],
       (ARRAY['order','shipment','payment','invoice','customer'])[1 + s.g % 5],
       CASE WHEN s.g % 5 = 4 THEN s.ts - interval '3 hours' ELSE s.ts END,
       s.ts,
       jsonb_build_object(
         'order_id', 100000 + s.g,
         'customer_id', 'cust-' || (s.g % 99991),
         'amount', round(((s.g * 7919) % 100000) / 100.0, 2),
         'currency', 'EUR',
         'channel', (ARRAY['web','app','pos'])[1 + s.g % 3],
         'region', (ARRAY['eu-west-1','us-east-1','ap-south-1'])[1 + s.g % 3],
         'items', jsonb_build_array(1 + s.g % 7, 1 + s.g % 11),
         'schema_version', 3,
         'trace_id', md5(s.g::text))
FROM (
  -- t: the row's transaction, numbered by its first row; rows of one
  -- transaction share saved_date.
  SELECT g, h, t,
         now() - interval '15 minutes' - interval '7 days'
           + (interval '7 days' / :rows) * t
           + ((t * 7919) % 1000) * interval '1 microsecond' AS ts
  FROM (
    SELECT g, md5('evt' || g) AS h,
           CASE WHEN g % 100000 < 5000 THEN g - g % 100000
                WHEN g % 10000 >= 9500 THEN g - (g % 10000 - 9500)
                WHEN g % 10000 >= 9000 THEN g - (g % 10000 - 9000) % 100
                WHEN g % 10000 >= 6000 THEN g - (g % 10000 - 6000) % 10
                ELSE g END AS t
    FROM generate_series(0::bigint, :rows - 1) g
  ) s1
) s0,
LATERAL (SELECT g, ts,
                substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4)
                  || '-' || substr(h, 17, 4) || '-' || substr(h, 21, 12) AS id) s;
\endif

CREATE INDEX event_headers_saved_date_id ON event_headers (saved_date, id);
VACUUM ANALYZE event_headers;
