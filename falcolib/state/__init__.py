"""state stage of falcolib."""
