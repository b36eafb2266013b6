"""Integrations of asym_plugins into other Re-ID toolboxes (torchreid)."""
