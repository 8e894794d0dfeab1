"""Analytics results on stored data for the API's routes: the adapters that read what the
analytics need (``air_quality``, ``parking``) and a brief per-app cache (``cache``)."""
