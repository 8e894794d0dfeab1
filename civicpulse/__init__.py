"""CivicPulse shared plumbing: settings, database, migrations, embedded services, the CLI."""
