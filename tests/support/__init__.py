"""Shared test helpers: waiting on conditions with deadlines, and Kubernetes access."""
