"""Ingest: Kafka (group ``fanout``) -> Redis channel state, seq, history and PUBLISH."""
