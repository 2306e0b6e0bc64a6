"""Feature kernels, one family per module. Each is vectorized over the symbol axis."""
