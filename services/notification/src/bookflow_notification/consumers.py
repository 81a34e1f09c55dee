"""Where messages enter: notification requests, their withdrawals, and the tenant and customer
facts the service keeps.

Requests and withdrawals come on topics of their own, each read by its own consumer, so the
withdrawals consumer stays caught up while a burst of requests is being stored, and the
dispatcher holds what a withdrawal could stop only while *it* is behind (upkeep.py). A withdrawal
handled before the request it stops is remembered: the request is stored withdrawn, or withdrawn
when it is claimed. The requests consumer still honours a withdrawal found on the requests topic,
where versions before 2026-12 published them, so none is lost in an upgrade."""
from functools import partial

from bookflow_contracts import CustomerUpdated, SendNotification, TenantUpdated, WithdrawNotifications, topics
from bookflow_notification import handlers
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime.consumer import Consumer

TENANTS = "tenants"
REQUESTS = "requests"
WITHDRAWALS = "withdrawals"


def consumers(settings: NotificationSettings) -> tuple[Consumer, ...]:
    withdraw = partial(handlers.withdraw_requests, service=settings)
    return (
        Consumer(name=REQUESTS, topic=topics.NOTIFICATION_REQUESTS, batch_handlers={SendNotification: handlers.accept_requests},
                 handlers={WithdrawNotifications: withdraw}),
        Consumer(name=WITHDRAWALS, topic=topics.NOTIFICATION_WITHDRAWALS, handlers={WithdrawNotifications: withdraw}),
        Consumer(name=TENANTS, topic=topics.TENANT_UPDATED,
                 handlers={TenantUpdated: partial(handlers.keep_tenant, letters_root=settings.letters_dir)}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: partial(handlers.keep_consent, service=settings)}),
    )
