"""tickwise: sensors."""
