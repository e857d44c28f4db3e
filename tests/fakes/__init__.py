"""Small stateful fakes of the services Farcaster talks to (tests only)."""
