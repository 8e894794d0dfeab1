"""Pure, seeded signal models: weather, air quality, household energy, parking occupancy."""
