"""SQL of each resource and the shaping of its rows into JSON-ready dicts."""
