"""The Project: every setting a run needs, validated, saved as JSON; nothing else holds settings."""
