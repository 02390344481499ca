"""Domain: models, database, clinic configuration, scheduling."""
