"""Real-time fan-out: ingest workers and WebSocket gateways (issue: fan-out)."""
