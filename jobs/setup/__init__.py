"""What each process sets up once: settings, logging, the clock and the composition root."""
