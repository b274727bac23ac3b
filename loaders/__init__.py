"""Extractor records and the outlet registry into the graph."""
