"""Broker adapters behind the one Broker protocol: paper and angelone."""
