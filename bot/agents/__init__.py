"""Agents: they change a scratch checkout and nothing else (see base.py for the contract)."""
