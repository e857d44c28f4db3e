"""Composition: the objects one process shares and how workers are assembled."""
