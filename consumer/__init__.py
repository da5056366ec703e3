"""The stream service: consume raw content, dedup in Redis, classify with fastText, route outputs."""
