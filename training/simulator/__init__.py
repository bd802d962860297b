"""Campaign simulator: honest KOC traffic with switchable inflation schemes and truth."""

from training.simulator.config import SimConfig, SimulatedSet
from training.simulator.core import simulate, write_simulated_set

__all__ = ["SimConfig", "SimulatedSet", "simulate", "write_simulated_set"]
