"""Wisenet webhooks: signature verification, the payload, and the receiving endpoint."""
