"""A faithful fake of the Wisenet API v1 for demos, tests and benchmarks (wisenet-api.md §8).

It never imports the connector's client: both are tested against the contract on their own.
"""
