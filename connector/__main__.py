"""`python -m connector` is `b24-1c`."""

from connector.cli import main

main()
