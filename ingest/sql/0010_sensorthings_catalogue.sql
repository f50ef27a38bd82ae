-- What SensorThings derives from the device profiles (a Datastream template per profile
-- metric, a Sensor per profile, an ObservedProperty per metric), stored by each process
-- under a version that hashes its content: queries read their process's version by one
-- bound parameter instead of binding the whole catalogue as arrays every time (which
-- cost more than the query they served). Processes with other profiles keep theirs.
CREATE TABLE sensorthings_catalogue_pm (
    version          text NOT NULL,
    profile          text NOT NULL,
    metric           text NOT NULL,
    metric_id        smallint NOT NULL,
    sensor_id        integer NOT NULL,
    description      text NOT NULL,
    observation_type text NOT NULL,
    uom              jsonb NOT NULL,
    props            jsonb NOT NULL,
    PRIMARY KEY (version, profile, metric_id)
);
CREATE TABLE sensorthings_catalogue_sensors (
    version     text NOT NULL,
    sensor_id   integer NOT NULL,
    profile     text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    metadata    jsonb NOT NULL,
    PRIMARY KEY (version, sensor_id)
);
CREATE TABLE sensorthings_catalogue_props (
    version     text NOT NULL,
    metric_id   smallint NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    props       jsonb NOT NULL,
    PRIMARY KEY (version, metric_id)
);
