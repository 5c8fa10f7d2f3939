"""ussd admin: arrives with its issue."""
