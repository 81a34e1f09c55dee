"""Where messages enter: notification requests and their withdrawals (one consumer, so that a
withdrawal is handled after the requests before it on its partition), and the tenant and customer
facts the service keeps."""
from functools import partial

from bookflow_contracts import CustomerUpdated, SendNotification, TenantUpdated, WithdrawNotifications, topics
from bookflow_notification import handlers
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime.consumer import Consumer

TENANTS = "tenants"
REQUESTS = "requests"


def consumers(settings: NotificationSettings) -> tuple[Consumer, ...]:
    return (
        Consumer(name=REQUESTS, topic=topics.NOTIFICATION_REQUESTS, batch_handlers={SendNotification: handlers.accept_requests},
                 handlers={WithdrawNotifications: partial(handlers.withdraw_requests, service=settings)}),
        Consumer(name=TENANTS, topic=topics.TENANT_UPDATED,
                 handlers={TenantUpdated: partial(handlers.keep_tenant, letters_root=settings.letters_dir)}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: partial(handlers.keep_consent, service=settings)}),
    )
