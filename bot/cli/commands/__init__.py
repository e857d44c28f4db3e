"""One module per `farcaster` subcommand group; bot/cli/main.py assembles them."""
