"""simswap admin: arrives with its issue."""
