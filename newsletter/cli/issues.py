"""CLI for authoring: ``new``, ``check``, ``render`` (filled in by the render work)."""
