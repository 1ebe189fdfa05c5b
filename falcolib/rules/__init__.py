"""rules stage of falcolib."""
