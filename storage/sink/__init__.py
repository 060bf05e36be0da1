"""The exactly-once sink: Kafka games/odds/bets → TimescaleDB rows, rollups and offsets."""
