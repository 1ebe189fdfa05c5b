"""outputs stage of falcolib."""
