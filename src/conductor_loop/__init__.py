"""Conductor Loop: run AI coding agents in a restart loop and record every run on disk."""

__version__ = "0.1.0"
