-- Rollups kept by the service's own maintenance job where TimescaleDB's continuous
-- aggregates are not available (Apache edition). avg = sum / count.
CREATE TABLE readings_1m (
    bucket     timestamptz NOT NULL,
    device_key integer  NOT NULL,
    metric_id  smallint NOT NULL,
    count      integer  NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL,
    PRIMARY KEY (device_key, metric_id, bucket)
);
SELECT create_hypertable('readings_1m', 'bucket', chunk_time_interval => interval '7 days');

CREATE TABLE readings_1h (LIKE readings_1m INCLUDING ALL);
SELECT create_hypertable('readings_1h', 'bucket', chunk_time_interval => interval '30 days');

-- How far each rollup has been computed, and the earliest reading time written since
-- (set by the batch writer only for backfill older than the rollup lookback).
CREATE TABLE rollup_state (
    name       text PRIMARY KEY,
    done_until timestamptz NOT NULL,
    dirty_from timestamptz
);
