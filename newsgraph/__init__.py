"""newsgraph: the knowledge-graph backend of a news-event verification site."""
