-- Rollup rows before the "final" mark (ingest.history.safe_until) change only when a
-- maintenance pass recomputes backfill (rows older than the lookback, marked in
-- dirty_from) or when retention drops their chunks. Each such pass counts one more
-- generation, so an answer computed wholly from final rollups stays valid for as long
-- as the generation it was computed under (the API keeps such answers, and their ETags
-- do not change with every new reading of the device).
ALTER TABLE rollup_state ADD COLUMN generation bigint NOT NULL DEFAULT 0;
