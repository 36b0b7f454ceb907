"""Pure computation, no I/O: pii, toxicity, drift, slo, canary."""
