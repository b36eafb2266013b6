"""Adapters for external tools and label sets (not installed with the package; the repository
root must be on ``sys.path``, as it is for ``tools/*.py`` and the tests)."""
