"""The sandbox for code from agents and repositories, and its network: an egress proxy."""
