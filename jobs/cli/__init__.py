"""The `connector` command line: the root (`main`) and one module per command group."""
