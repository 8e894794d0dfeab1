"""Device simulators: seeded fleets that publish the device contract."""
