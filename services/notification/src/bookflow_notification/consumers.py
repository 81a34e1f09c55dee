"""Where messages enter: notification requests, and the tenant and customer facts the service keeps."""
from bookflow_contracts import CustomerUpdated, SendNotification, TenantUpdated, topics
from bookflow_notification import handlers
from bookflow_runtime.consumer import Consumer

requests = Consumer(name="requests", topic=topics.NOTIFICATION_REQUESTS, batch_handlers={SendNotification: handlers.accept_requests})
tenants = Consumer(name="tenants", topic=topics.TENANT_UPDATED, handlers={TenantUpdated: handlers.keep_tenant})
customers = Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: handlers.keep_consent})
