"""Data stage: raw files, their items and prompts, a dataset's design, and the user's own datasets (envs/data.yaml)."""
