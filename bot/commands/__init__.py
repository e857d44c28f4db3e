"""One module per `farcaster` subcommand group; bot/cli.py assembles them."""
