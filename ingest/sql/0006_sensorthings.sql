-- OGC SensorThings API: location history and stable Sensor ids.
--
-- Every location a device has had is one row of `location_history`. The SensorThings
-- API serves each row as a Location, as the HistoricalLocation that says when the Thing
-- moved there and as the FeatureOfInterest of the observations made there, all three
-- under the row's id. `current` marks the row that matches `devices.location` (at most
-- one per device; none while the device has no location).
CREATE TABLE location_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_key  integer NOT NULL REFERENCES devices (device_key) ON DELETE CASCADE,
    time        timestamptz NOT NULL,
    location    geometry(Point, 4326) NOT NULL,
    name        text,
    description text,
    current     boolean NOT NULL DEFAULT true
);
CREATE INDEX location_history_device_idx ON location_history (device_key, time);
CREATE UNIQUE INDEX location_history_current_idx ON location_history (device_key) WHERE current;
CREATE INDEX location_history_location_idx ON location_history USING gist (location);

-- A change of devices.location (import, CLI, API) adds a history row, unless the current
-- row already holds that point (the API edits a Location's row first, then the device).
CREATE FUNCTION citygate_location_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.location IS NULL THEN
        UPDATE location_history SET current = false WHERE device_key = NEW.device_key AND current;
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM location_history
               WHERE device_key = NEW.device_key AND current
                 AND ST_Equals(location, NEW.location)) THEN
        RETURN NULL;
    END IF;
    UPDATE location_history SET current = false WHERE device_key = NEW.device_key AND current;
    INSERT INTO location_history (device_key, time, location)
    VALUES (NEW.device_key, clock_timestamp(), NEW.location);
    RETURN NULL;
END $$;

CREATE TRIGGER devices_location_insert
    AFTER INSERT ON devices
    FOR EACH ROW WHEN (NEW.location IS NOT NULL)
    EXECUTE FUNCTION citygate_location_history();
CREATE TRIGGER devices_location_update
    AFTER UPDATE OF location ON devices
    FOR EACH ROW WHEN (OLD.location IS DISTINCT FROM NEW.location)
    EXECUTE FUNCTION citygate_location_history();

-- Devices registered before this migration start their history when they were created.
INSERT INTO location_history (device_key, time, location)
SELECT device_key, created_at, location FROM devices WHERE location IS NOT NULL;

-- Sensors are device profiles; a profile name gets a small integer id once, on first use,
-- so that Sensor ids stay the same when profiles are added or removed.
CREATE TABLE sensorthings_sensors (
    sensor_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile   text NOT NULL UNIQUE
);
