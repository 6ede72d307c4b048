"""The edges: the Wisenet client, sandbox, store and HTTP routers."""
