"""The work itself: poll Wisenet, decide learners, write tags back; the webhook inbox."""
