"""tickwise: tickwise."""
