"""The scheduler: durable timers in its own database, fired as `reminder.due` at their instant."""
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
