"""ussd: models arrive with its issue."""
