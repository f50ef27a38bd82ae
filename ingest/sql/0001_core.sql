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

-- One row per reading. (device, metric, time) is the natural key: a redelivered MQTT
-- message stores nothing twice. Categorical readings keep their state name in `state`
-- and its index in the profile's state list in `value`.
CREATE TABLE readings (
    time        timestamptz NOT NULL,
    device_key  integer     NOT NULL,
    metric_id   smallint    NOT NULL,
    value       double precision NOT NULL,
    state       text,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (device_key, metric_id, time)
);
SELECT create_hypertable('readings', 'time', chunk_time_interval => interval '1 day');

-- Latest value per (device, metric), maintained by the batch writer in the same
-- transaction as the readings: "latest values" never scans the hypertable.
CREATE TABLE latest (
    device_key  integer  NOT NULL REFERENCES devices (device_key) ON DELETE CASCADE,
    metric_id   smallint NOT NULL,
    time        timestamptz NOT NULL,
    value       double precision NOT NULL,
    state       text,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (device_key, metric_id)
);

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
