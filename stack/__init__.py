"""The local stack: install, start and stop the databases, the broker and the services."""
