"""Stage jobs, one module each: ``python -m ssd.bin.<job>``. They parse arguments and call the library."""
