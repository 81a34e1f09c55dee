"""The console's pages, one module per area of work."""
from bookflow_console.pages import account, bookings, checkin, customers, orders, settings, staff, templates, usage

routers = [account.router, bookings.router, customers.router, orders.router, checkin.router, templates.router, usage.router,
           settings.router, staff.router]
