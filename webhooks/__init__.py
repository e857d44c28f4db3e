"""Webhook intake: the FastAPI app GitHub talks to."""
