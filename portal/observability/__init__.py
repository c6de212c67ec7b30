"""Observability: Prometheus metrics, request ids in logs, and the deployment's health report."""
