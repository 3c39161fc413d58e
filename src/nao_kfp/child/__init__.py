"""Child networks and their training."""
