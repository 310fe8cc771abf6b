"""Adapters of the certificate engine's Signer port (chalicelib/dcc/signer.py)."""
