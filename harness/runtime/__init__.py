"""What every room shares: settings, errors, input files, interrupts, logs, progress bars."""
