"""The store: snapshots, cursors, decisions, the write outbox and the budget, in SQL."""
