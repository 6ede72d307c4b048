"""Wisenet API v1 as the connector speaks it.

The entity registry, wire models, paging, filters, timestamps, budget, the transport, response
reading and the client.
"""
