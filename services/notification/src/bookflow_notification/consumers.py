"""Where messages enter: notification requests, their withdrawals, and the tenant and customer
facts the service keeps.

Requests and withdrawals share a topic, keyed alike, so a withdrawal comes after the requests it
withdraws and before any asked for anew. Two consumers read it. The withdrawals consumer passes
requests over unread, so it stays caught up while a burst of requests is being stored, and the
dispatcher holds what a withdrawal could stop only while *it* is behind (upkeep.py). The requests
consumer reads the withdrawals too, in their place among the requests, so a request behind a
withdrawal (one that came again) is stored withdrawn whichever consumer is ahead. A withdrawal
handled before the request it stops is remembered: the request is stored withdrawn, or withdrawn
when it is claimed; handled twice, it withdraws nothing twice."""
from functools import partial

from bookflow_contracts import CustomerUpdated, SendNotification, TenantUpdated, WithdrawNotifications, topics
from bookflow_notification import handlers
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime.consumer import Consumer

TENANTS = "tenants"
REQUESTS = "requests"
WITHDRAWALS = "withdrawals"


def consumers(settings: NotificationSettings) -> tuple[Consumer, ...]:
    return (
        Consumer(name=REQUESTS, topic=topics.NOTIFICATION_REQUESTS, batch_handlers={SendNotification: handlers.accept_requests},
                 follows={WithdrawNotifications: handlers.withdraw_in_order}),
        Consumer(name=WITHDRAWALS, topic=topics.NOTIFICATION_REQUESTS, reports_undecodable=False,
                 handlers={WithdrawNotifications: partial(handlers.withdraw_requests, service=settings)}),
        Consumer(name=TENANTS, topic=topics.TENANT_UPDATED,
                 handlers={TenantUpdated: partial(handlers.keep_tenant, letters_root=settings.letters_dir)}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: partial(handlers.keep_consent, service=settings)}),
    )
