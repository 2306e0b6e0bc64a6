"""tickwise: modeling."""
