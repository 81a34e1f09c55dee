"""Alembic environment of the notification's database (shared body in bookflow_runtime)."""
from bookflow_runtime.migrations import run_env

run_env()
