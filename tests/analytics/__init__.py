"""Analytics: pure cores over numpy arrays (no broker, no database)."""
