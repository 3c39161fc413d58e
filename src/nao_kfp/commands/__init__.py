"""Subcommands of `nao`, one module per area; each exposes register(subparsers)."""
