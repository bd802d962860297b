"""Weekly training job: simulate or load -> features -> fit -> evaluate -> register."""

from training.simulator import SimConfig, SimulatedSet, simulate, write_simulated_set

__all__ = ["SimConfig", "SimulatedSet", "simulate", "write_simulated_set"]
