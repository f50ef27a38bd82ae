-- Open311 GeoReport v2 and the delivery outbox (issue 6).
--
-- Service types: the attributes of a service definition (for `metadata = true` types)
-- and the agency and notice each new request of the type gets.
ALTER TABLE service_types
    ADD COLUMN attributes         jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN agency_responsible text,
    ADD COLUMN service_notice     text,
    ADD COLUMN updated_at         timestamptz NOT NULL DEFAULT now();

-- Service requests: what a citizen's POST carries (never shown publicly: email, names,
-- phone, account), the token a POST returns, and the operator's follow-up.
ALTER TABLE service_requests
    ADD COLUMN token              text UNIQUE,
    ADD COLUMN jurisdiction_id    text,
    ADD COLUMN attributes         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN email              text,
    ADD COLUMN first_name         text,
    ADD COLUMN last_name          text,
    ADD COLUMN phone              text,
    ADD COLUMN account_id         text,
    ADD COLUMN reporter_device_id text,   -- the spec's `device_id`: the citizen's phone
    ADD COLUMN media_url          text,
    ADD COLUMN address_id         text,
    ADD COLUMN zipcode            text,
    ADD COLUMN agency_responsible text,
    ADD COLUMN service_notice     text,
    ADD COLUMN expected_at        timestamptz,
    ADD COLUMN closed_at          timestamptz,
    ADD COLUMN closed_by          text;
ALTER TABLE service_requests
    ADD CONSTRAINT service_requests_source_check CHECK (source IN ('rule', 'citizen', 'operator'));
CREATE INDEX service_requests_requested_idx ON service_requests (requested_at DESC);
CREATE INDEX service_requests_alarm_idx ON service_requests (alarm_id) WHERE alarm_id IS NOT NULL;
-- Alarms point at the request that covers their service-request action (see
-- rules/service_requests.py); closing a request finds them through this.
CREATE INDEX alarms_service_request_idx
    ON alarms (((details -> 'actions' -> 'service_request' ->> 'id')))
    WHERE details ? 'actions';

-- Outbox: a delivery is pending (delivered_at and failed_at NULL), delivered, or failed
-- after its last allowed attempt (kept, shown in /api/v1/outbox, retryable).
-- next_attempt_at doubles as the lease of a claimed delivery.
ALTER TABLE outbox
    ADD COLUMN failed_at       timestamptz,
    ADD COLUMN last_attempt_at timestamptz,
    ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('webhook', 'command'));
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_failed_idx ON outbox (failed_at) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
