"""Kubernetes I/O: reading Secrets, ConfigMaps and connections; writing results and status."""
