"""The embedded runtime: noida-db broker, topics, worker processes and their state on disk."""
