"""The recall service's rules, free of I/O: a tenant's calendar, book-again reminders (flow D)
and recall courses (flow E)."""
