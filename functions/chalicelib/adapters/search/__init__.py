"""Elasticsearch adapters: the messages index, its queries and the pages of a search."""
