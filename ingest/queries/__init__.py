"""The queries of the HTTP API and the operator tools, apart from the write path: open data,
history buckets, quarantine, device administration, API keys and SensorThings' stores."""
