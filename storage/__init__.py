"""Storage: the schema, the write path, and the typed read side every reader calls."""
