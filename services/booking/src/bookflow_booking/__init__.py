"""The booking service: system of record for customers and bookings (work orders)."""
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
