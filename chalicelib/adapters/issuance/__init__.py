"""Adapters of the countersigning and passport ports (chalicelib/issuance/)."""
