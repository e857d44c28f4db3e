"""The `farcaster` command and its subcommands."""
