"""What every room shares: settings, errors, input files and writable outputs, staged output
folders, interrupts, logs, progress bars and the one cache key."""
