"""Alembic environment of the checkin's database (shared body in bookflow_runtime)."""
from bookflow_runtime.migrations import run_env

run_env()
