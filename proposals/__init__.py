"""Proposals: validation, and the interpreter that turns a valid proposal into GitHub effects."""
