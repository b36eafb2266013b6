"""MMEngine hooks of this package."""
