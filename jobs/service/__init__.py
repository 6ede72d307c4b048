"""`connector run`: the long-running service, its admin endpoints and its health check."""
