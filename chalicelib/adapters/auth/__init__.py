"""Adapters of the auth ports (chalicelib/auth/): where the token keys come from."""
