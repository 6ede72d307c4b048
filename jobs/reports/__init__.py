"""What the store tells people: the report page and the daily digest."""
