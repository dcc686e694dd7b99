"""The universal state management library of the spec (operation, manager, store, discovery, integration)."""
