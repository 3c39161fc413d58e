"""The NAO controller."""
