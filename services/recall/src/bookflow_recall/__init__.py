"""The recall service: recall templates, steps and book-again reminders, over its own projection
of each customer's booking history."""
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
