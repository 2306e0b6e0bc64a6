"""tickwise: assets."""
