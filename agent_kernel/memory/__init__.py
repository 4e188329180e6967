"""Memory beside the notebook: sessions, messages and events in DuckDB; project memory in Chroma."""
