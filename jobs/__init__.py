"""tickwise: jobs."""
