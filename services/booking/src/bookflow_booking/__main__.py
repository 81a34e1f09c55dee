"""`python -m bookflow_booking [serve|migrate]`."""
from bookflow_runtime.cli import main

from bookflow_booking import MIGRATIONS
from bookflow_booking.app import create_app
from bookflow_booking.settings import BookingSettings

main(create_app, BookingSettings, MIGRATIONS)
