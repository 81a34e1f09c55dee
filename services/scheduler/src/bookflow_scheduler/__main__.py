"""`python -m bookflow_scheduler [serve|migrate]`."""
from bookflow_runtime.cli import main

from bookflow_scheduler import MIGRATIONS
from bookflow_scheduler.app import create_app
from bookflow_scheduler.settings import SchedulerSettings

main(create_app, SchedulerSettings, MIGRATIONS)
