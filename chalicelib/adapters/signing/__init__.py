"""Adapters of the signing ports (chalicelib/signing/): facilities, batches, the audit log and its anchor."""
