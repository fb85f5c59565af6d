"""The command line beside `cli.py` (allocator.cli, the `allocator` group and its commands on one
instance or plan): what every command shares (common), the commands on plans for people (views:
compare, chart, report, export) and the studies of many solves (studies: sweep, frontier,
equity-bench). All of it is the command layer: thin commands that parse, call the engine and report."""
