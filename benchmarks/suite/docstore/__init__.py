"""A small document service: the application the suite benchmark tests."""
