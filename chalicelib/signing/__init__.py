"""Facility registry and bulk signing of verified people (manifests, attestations)."""
