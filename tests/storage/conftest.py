"""The storage suite's fixtures: the control-plane suite's real PostgreSQL servers (see its conftest)."""

from tests.controlplane.conftest import postgres_base_dir, postgres_bin, postgres_factory

__all__ = ["postgres_base_dir", "postgres_bin", "postgres_factory"]
