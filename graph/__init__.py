"""The domain model, the store port, its adapters and the graph algorithms."""
