"""The HTTP routes, one module per resource: search, documents, operations, admin."""
