"""The use cases: ingest, rating, node merging, editorial work, the outlet registry, export."""
