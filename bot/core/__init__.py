"""The foundation: records, errors, settings, redaction, faults, retry. Imports nothing above it."""
