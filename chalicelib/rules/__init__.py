"""Business rules (CertLogic): our published rules, other countries\x27 imported ones, travel checks."""
