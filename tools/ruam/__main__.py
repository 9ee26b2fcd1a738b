"""`python -m tools.ruam`, as the `ruam` console script."""

from tools.ruam.cli import main

main()
