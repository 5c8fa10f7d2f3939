"""voice admin: arrives with its issue."""
