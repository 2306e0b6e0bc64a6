"""tickwise: features."""
