"""``python -m civicpulse.cli``: the same as the ``civicpulse`` command."""

from civicpulse.cli import main

raise SystemExit(main())
