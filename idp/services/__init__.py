"""Domain services: the only code that changes the database (see README.md)."""
