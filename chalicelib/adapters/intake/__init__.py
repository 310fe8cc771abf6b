"""Adapters of the intake ports (chalicelib/intake/)."""
