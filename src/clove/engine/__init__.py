"""The engine: answers check, lookup and expand questions over one storage reader and schema."""
