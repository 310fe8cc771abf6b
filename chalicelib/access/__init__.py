"""Access to people's data: every read of a person's data through the API, or of a dead letter by
an operator, is written to the access log first; citizens and operators read it back."""
