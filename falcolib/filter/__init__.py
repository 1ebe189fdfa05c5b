"""filter stage of falcolib."""
