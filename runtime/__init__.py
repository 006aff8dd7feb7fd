"""The runtime: sources, the analysis session and its outputs, assembled in one place."""
