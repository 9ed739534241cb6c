-- bench/writer.sql: one pgbench transaction of the latency run's writer:
-- :batch new event_headers rows stamped with now(), the transaction's start
-- time and the stand-in for its commit time (the latency is measured from
-- it). pgbench -D batch=N -R RATE paces the transactions.
INSERT INTO event_headers
SELECT 'lat-' || gen_random_uuid(), 'OrderPlaced', 'order', now(), now(),
       jsonb_build_object(
         'order_id', g, 'customer_id', 'cust-' || g, 'amount', 42.50,
         'currency', 'EUR', 'channel', 'web', 'region', 'eu-west-1',
         'items', jsonb_build_array(1, 2), 'schema_version', 3,
         'trace_id', md5(random()::text))
FROM generate_series(1, :batch) g;
