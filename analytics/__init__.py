"""Analytics: pure cores over numpy arrays and frozen dataclasses, and the jobs that run them
over the storage read side. No broker client, no web framework."""
