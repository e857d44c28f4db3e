"""Farcaster: a GitHub App that turns a maintainer's comment into a refactor pull request."""

__version__ = "0.1.0"
