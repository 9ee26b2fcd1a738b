"""Ruam's operator command line (`ruam`, tools/ruam/cli.py)."""
