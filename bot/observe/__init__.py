"""Observability: process logging and Prometheus metrics."""
