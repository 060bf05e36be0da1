"""The pure, deterministic feed simulator: no I/O, no wall clock, one seeded random source."""

from producer.simulator.simulator import SimConfig, Simulator

__all__ = ["SimConfig", "Simulator"]
