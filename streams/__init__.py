"""Kafka reads that more than one program needs, kept apart from any one program's package so
that training (which may not import the service) and the reviewer app share one definition."""
