"""tickwise: orchestration."""
