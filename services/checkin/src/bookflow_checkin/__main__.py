"""`python -m bookflow_checkin [serve|migrate]`."""
from bookflow_runtime.cli import main

from bookflow_checkin import MIGRATIONS
from bookflow_checkin.app import create_app
from bookflow_checkin.settings import CheckinSettings

main(create_app, CheckinSettings, MIGRATIONS)
