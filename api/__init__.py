"""The GraphQL entry point (strawberry on Starlette)."""
