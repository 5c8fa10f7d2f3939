"""simswap: models arrive with its issue."""
