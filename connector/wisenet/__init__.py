"""Wisenet API v1: wire models, paging, filters, timestamps, budget and the client."""
