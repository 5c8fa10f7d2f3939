"""An app installed by one test only, to show that its `ussd_handlers` module is found at start-up."""
