"""The check-in service: pre-visit pages, the customer's answers and files, receptionist items."""
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
