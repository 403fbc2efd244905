"""Sending: the queue, claims, portions and their fan-out to workers, transports, outcomes."""
