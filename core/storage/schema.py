"""The schema's Alembic migrations (folder ``migrations`` beside this module) and the upgrade to their head."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["MIGRATIONS", "alembic_config", "upgrade_schema"]

#: The Alembic script folder (shipped as package data of ``core.storage``).
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration whose script location is :data:`MIGRATIONS` (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_schema(engine: sa.Engine) -> None:
    """Bring the database schema to the newest Alembic revision (in one transaction)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
