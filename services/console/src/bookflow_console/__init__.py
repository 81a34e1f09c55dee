"""The staff console (issue 13, X9): one web app where administrators, planners, receptionists and
technicians do their work, over the services' public HTTP APIs with the logged-in person's token."""
