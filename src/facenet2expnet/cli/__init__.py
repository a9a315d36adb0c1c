"""The command line: one module per subcommand (``COMMANDS`` in ``main``), each its arguments and its body."""
