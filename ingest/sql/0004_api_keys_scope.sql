-- API keys: an optional district scope (an operator key for one district manages only
-- that district's devices, rules and alarms) and the time a key was last used.
ALTER TABLE api_keys ADD COLUMN districts text[];
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
