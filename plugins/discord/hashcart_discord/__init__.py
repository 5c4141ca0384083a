"""hashcart plugin."""
