"""The foundation: records and vocabularies, errors, settings, permissions, redaction, faults,
retry. Imports nothing above it."""
