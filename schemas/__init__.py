"""Avro schemas (versioned .avsc), their id manifest, example events, and a tiny loader."""
