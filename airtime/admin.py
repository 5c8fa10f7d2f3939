"""airtime admin: arrives with its issue."""
