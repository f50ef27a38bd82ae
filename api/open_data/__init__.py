"""Helpers of the open data endpoints: parameters, models, caching, CSV, GeoJSON, live
updates. The routes themselves are in ``api/routes/``."""
