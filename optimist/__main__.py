"""`python -m optimist ...`: the same command line as the `optimist` console script."""

from optimist.cli import main

main(prog_name="optimist")
