"""The live feed simulator: games, odds and bets into Kafka (``python -m producer``).

``simulator/`` is pure and deterministic: the same seed, run id, start time and knobs give
the same events (game, market and bet ids, prices, ``ts``, ``seq``, order); only event
``id``s differ, because consumers dedupe by id. ``app`` is the I/O edge around it: pacing
against the wall clock, the Kafka sink, JSONL record/replay and the throughput log.
``restart`` runs first: it ends the games this producer's previous runs left unfinished
(``abandoned`` decides which and how, ``kafka_log`` reads them back).
"""
