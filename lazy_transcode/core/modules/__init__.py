"""Compatibility namespace: the import paths used by the state-management spec."""
