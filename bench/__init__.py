"""The throughput benchmark: broker and database ceilings, a naive baseline and CivicPulse end to end.

Run it with ``scripts/bench`` (see docs/benchmarks.md). Nothing here is imported by the product.
"""
