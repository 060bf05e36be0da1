"""Gateway: WebSocket protocol v1 on top of Redis pub/sub, many clients per channel."""
