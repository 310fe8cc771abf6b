"""Adapters of the trust list ports (chalicelib/trust/)."""
