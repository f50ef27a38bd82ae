-- Alarms: who acknowledged and cleared them, the device and rule version they came from,
-- repeats and escalation; rule changes and device scope changes are announced so that
-- running engines follow them at once.
ALTER TABLE alarms
    ADD COLUMN rule_version     integer NOT NULL DEFAULT 1,
    ADD COLUMN device_key       integer REFERENCES devices (device_key) ON DELETE SET NULL,
    ADD COLUMN last_raised_at   timestamptz,
    ADD COLUMN acknowledged_at  timestamptz,
    ADD COLUMN acknowledged_by  text,
    ADD COLUMN cleared_by       text,
    ADD COLUMN escalated_at     timestamptz,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();
CREATE INDEX alarms_listing_idx ON alarms (active, raised_at DESC);
CREATE INDEX alarms_rule_idx ON alarms (rule_id, subject, raised_at DESC);
CREATE INDEX alarms_device_idx ON alarms (device_key, raised_at DESC);
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, at);

ALTER TABLE rules ADD COLUMN source text NOT NULL DEFAULT 'api';

CREATE FUNCTION citygate_notify_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('citygate_rules', coalesce(NEW.id, OLD.id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER rules_notify AFTER INSERT OR DELETE OR UPDATE ON rules
    FOR EACH ROW EXECUTE FUNCTION citygate_notify_rule();

-- Rule scopes use district, tags and location too.
DROP TRIGGER devices_notify ON devices;
CREATE TRIGGER devices_notify
    AFTER INSERT OR DELETE OR UPDATE OF id, profile, enabled, attributes, district, tags, location
    ON devices FOR EACH ROW EXECUTE FUNCTION citygate_notify_device();
