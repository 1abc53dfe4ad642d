"""Reusable widgets, one per file; none of them knows about training or the engine."""
