"""Adapters of the complaint ports (chalicelib/complaints/)."""
