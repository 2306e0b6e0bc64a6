"""tickwise: marketdata."""
