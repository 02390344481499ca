"""The demo clinic: a realistic dental practice with synthetic patients."""
