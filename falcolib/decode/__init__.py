"""decode stage of falcolib."""
