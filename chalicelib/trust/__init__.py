"""Trust: the DSC certificates we publish for verifiers, and the revocation list."""
