"""The recall service's tables (`tables`) and queries, by area: the projection of other services'
events (`projection`), book-again reminders (`book_again`), recall (`recall`)."""
