"""The GitHub edge: App authentication and the REST calls Farcaster makes (nothing else)."""
