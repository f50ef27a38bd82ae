"""The database side of citygate: pool, migrations, batch writer, registry, maintenance."""
