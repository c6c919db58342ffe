"""Training in the paper's three phases: pure steps, pmap, orbax checkpoints, logs."""
