"""Alembic migrations of the catalog, run by `controlplane.catalog.db.migrate`."""
