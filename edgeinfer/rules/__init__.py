"""Rules: turn results and readings into alerts (thresholds, debounce, cooldown)."""
