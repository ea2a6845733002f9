"""Analysis stage: steerability, statistics, the bias, OOD and geometry analyses, figures and the summary
(envs/analysis.yaml)."""
