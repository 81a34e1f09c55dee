"""Where notification requests enter."""
from bookflow_contracts import SendNotification, topics
from bookflow_notification import handlers
from bookflow_runtime.consumer import Consumer

requests = Consumer(name="requests", topic=topics.NOTIFICATION_REQUESTS, handlers={SendNotification: handlers.send_notification})
