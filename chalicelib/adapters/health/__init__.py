"""Adapters of the health probes (chalicelib/health/)."""
