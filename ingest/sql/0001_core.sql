-- Core schema: devices, metrics, readings (hypertable), latest values, quarantine.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE devices (
    device_key      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text NOT NULL UNIQUE
                    CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    profile         text NOT NULL,
    name            text NOT NULL DEFAULT '',
    location        geometry(Point, 4326),
    district        text,
    tags            text[] NOT NULL DEFAULT '{}',
    enabled         boolean NOT NULL DEFAULT true,
    credentials_ref text,
    attributes      jsonb NOT NULL DEFAULT '{}',
    last_seen       timestamptz,
    status          text NOT NULL DEFAULT 'unknown'
                    CHECK (status IN ('unknown', 'online', 'offline')),
    status_changed_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_profile_idx ON devices (profile);
CREATE INDEX devices_district_idx ON devices (district);
CREATE INDEX devices_location_idx ON devices USING gist (location);

-- Metric names are global (FIWARE Smart Data Models attribute names); readings refer to
-- them by a small integer so that a reading row stays narrow.
CREATE TABLE metrics (
    metric_id smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name      text NOT NULL UNIQUE
);

-- One row per (device, time): the readings a message carried at that time, as parallel
-- arrays (metric ids, values, and state names for categorical metrics, else NULL). A row
-- per message rather than per reading is what lets COPY keep up with tens of thousands of
-- messages a second (docs/performance.md). The natural key is (device, metric, time): a
-- redelivered message stores nothing twice, and a second message with the same device
-- time adds only the metrics the row does not have yet.
CREATE TABLE readings (
    time        timestamptz NOT NULL,
    device_key  integer     NOT NULL,
    metric_ids  smallint[]  NOT NULL,
    vals        double precision[] NOT NULL,
    states      text[],
    received_at timestamptz NOT NULL,
    PRIMARY KEY (device_key, time),
    CHECK (cardinality(metric_ids) = cardinality(vals)),
    CHECK (states IS NULL OR cardinality(states) = cardinality(metric_ids))
);
SELECT create_hypertable('readings', 'time', chunk_time_interval => interval '1 day');

-- One reading per (device, metric) as a view: what queries by metric use.
CREATE VIEW reading_values AS
SELECT r.time, r.device_key, u.metric_id, u.value, u.state, r.received_at
FROM readings r
CROSS JOIN LATERAL unnest(
    r.metric_ids, r.vals, coalesce(r.states, array_fill(NULL::text, ARRAY[cardinality(r.metric_ids)]))
) AS u(metric_id, value, state);

-- Latest readings per device: one row per device holding, for every metric it has
-- reported, the newest value, state and time (parallel arrays). `states` is NULL when no
-- metric has a state; `times` is NULL when every metric's newest reading is at `time`.
-- Maintained by the batch writer in the same transaction as the readings, one row per
-- device per batch, so "latest values" never scans the hypertable.
CREATE TABLE latest (
    device_key  integer     PRIMARY KEY REFERENCES devices (device_key) ON DELETE CASCADE,
    time        timestamptz NOT NULL,   -- newest reading time
    received_at timestamptz NOT NULL,   -- when the newest stored message arrived
    metric_ids  smallint[]  NOT NULL,
    vals        double precision[] NOT NULL,
    states      text[],
    times       timestamptz[]
);

CREATE VIEW latest_values AS
SELECT l.device_key, u.metric_id, u.value, u.state, u.time, l.received_at
FROM latest l
CROSS JOIN LATERAL unnest(
    l.metric_ids, l.vals,
    coalesce(l.states, array_fill(NULL::text, ARRAY[cardinality(l.metric_ids)])),
    coalesce(l.times, array_fill(l.time, ARRAY[cardinality(l.metric_ids)]))
) AS u(metric_id, value, state, time);

-- Everything the gateway refused, with the raw bytes and a reason a person can read.
CREATE TABLE quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    device_id   text,
    reason_code text NOT NULL,
    reason      text NOT NULL,
    payload     bytea NOT NULL,
    payload_size integer NOT NULL
);
SELECT create_hypertable('quarantine', 'received_at', chunk_time_interval => interval '7 days');
CREATE INDEX quarantine_reason_idx ON quarantine (reason_code, received_at DESC);
CREATE INDEX quarantine_device_idx ON quarantine (device_id, received_at DESC);

-- Gateways keep the registry in memory; a change to a device tells them at once.
CREATE FUNCTION citygate_notify_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('citygate_devices', coalesce(NEW.id, OLD.id));
    RETURN NULL;
END $$;
CREATE TRIGGER devices_notify
    AFTER INSERT OR DELETE OR UPDATE OF id, profile, enabled, attributes ON devices
    FOR EACH ROW EXECUTE FUNCTION citygate_notify_device();
ALTER TABLE devices SET (fillfactor = 70);
ALTER TABLE latest SET (fillfactor = 70);
