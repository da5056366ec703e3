"""The stream service: consume raw content, dedup in Redis, classify, route the outputs."""
