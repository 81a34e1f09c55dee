"""`python -m bookflow_notification [serve|migrate]`."""
from bookflow_runtime.cli import main

from bookflow_notification import MIGRATIONS
from bookflow_notification.app import create_app
from bookflow_notification.settings import NotificationSettings

main(create_app, NotificationSettings, MIGRATIONS)
