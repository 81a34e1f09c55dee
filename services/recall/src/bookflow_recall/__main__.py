"""`python -m bookflow_recall [serve|migrate]`."""
from bookflow_runtime.cli import main

from bookflow_recall import MIGRATIONS
from bookflow_recall.app import create_app
from bookflow_recall.settings import RecallSettings

main(create_app, RecallSettings, MIGRATIONS)
