"""MLICv2 / MLIC++ learned image codec (issue 6, in progress)."""
