"""airtime: models arrive with its issue."""
