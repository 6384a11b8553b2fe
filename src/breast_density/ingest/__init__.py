"""Reading the user's data: source layouts and dataset adapters, assembly, de-identification, quarantine."""
