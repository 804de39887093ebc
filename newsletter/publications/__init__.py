"""Publications: what is sent, to whom, when, and how it looks."""
