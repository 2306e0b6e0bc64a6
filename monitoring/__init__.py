"""tickwise: monitoring."""
