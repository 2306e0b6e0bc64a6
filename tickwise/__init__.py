"""tickwise: short-horizon equity direction signals. The CLI lives in :mod:`tickwise.cli`."""
