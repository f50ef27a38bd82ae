-- Tables for the rules engine, alarms, Open311 service requests, the webhook outbox and
-- API keys. Later migrations extend them; the ingest path does not touch them.
CREATE TABLE api_keys (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    prefix      text NOT NULL UNIQUE,
    key_hash    text NOT NULL,
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE rules (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    definition  jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alarms (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id      integer NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    subject      text NOT NULL,            -- device id, or area key for fleet rules
    severity     text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
    active       boolean NOT NULL DEFAULT true,
    acknowledged boolean NOT NULL DEFAULT false,
    count        integer NOT NULL DEFAULT 1,
    raised_at    timestamptz NOT NULL,
    cleared_at   timestamptz,
    details      jsonb NOT NULL DEFAULT '{}'
);
-- One active alarm per (rule, subject).
CREATE UNIQUE INDEX alarms_one_active ON alarms (rule_id, subject) WHERE active;

CREATE TABLE alarm_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id  bigint NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL,
    actor     text,
    details   jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE service_types (
    service_code text PRIMARY KEY,
    service_name text NOT NULL,
    description  text NOT NULL DEFAULT '',
    metadata     boolean NOT NULL DEFAULT false,
    type         text NOT NULL DEFAULT 'realtime',
    keywords     text[] NOT NULL DEFAULT '{}',
    grp          text NOT NULL DEFAULT ''
);

CREATE TABLE service_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_code  text NOT NULL REFERENCES service_types (service_code),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    device_key    integer REFERENCES devices (device_key) ON DELETE SET NULL,
    alarm_id      bigint REFERENCES alarms (id) ON DELETE SET NULL,
    description   text NOT NULL DEFAULT '',
    status_notes  text,
    location      geometry(Point, 4326),
    address       text,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    source        text NOT NULL DEFAULT 'rule'
);
-- Never a second open request for the same device and service.
CREATE UNIQUE INDEX service_requests_one_open
    ON service_requests (device_key, service_code) WHERE status = 'open' AND device_key IS NOT NULL;

CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,
    target       text NOT NULL,
    payload      jsonb NOT NULL,
    dedup_key    text UNIQUE,
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_pending_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
