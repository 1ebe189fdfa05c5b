"""testing stage of falcolib."""
