"""Adapters of the cleaning ports (chalicelib/cleaning/): records, population registry, access log."""
