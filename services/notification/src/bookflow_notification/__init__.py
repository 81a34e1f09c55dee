"""The notification service: turns requests into messages that leave by SMS, e-mail or letter."""
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
