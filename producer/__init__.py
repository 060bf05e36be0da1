"""The live feed simulator: games, odds and bets into Kafka (``python -m producer``)."""
