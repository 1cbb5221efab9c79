"""Reward epochs: ``epochs`` (how epochs are cut and funded, their inputs), ``rule`` (the
reward rule, docs/REWARDS.md), ``closing`` (closes final epochs: leaves, proofs, the
publication's intent), ``publisher`` with ``publications`` (puts each root on chain exactly
once, across reorgs, drops and restarts)."""
