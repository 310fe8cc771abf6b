"""Adapters of the reports ports (chalicelib/reports/): the reconciliation job's views of the data."""
