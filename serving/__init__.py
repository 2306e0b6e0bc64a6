"""tickwise: serving."""
