"""Compliance use cases: sanctions lists and screening, subjects' status, monitoring, cases."""
