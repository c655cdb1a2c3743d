"""One module per command, and the checks every command makes before any work."""
