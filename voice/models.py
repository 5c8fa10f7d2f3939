"""voice: models arrive with its issue."""
