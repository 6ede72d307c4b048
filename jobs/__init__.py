"""The shell: settings, composition root, jobs, scheduler and the CLI."""
