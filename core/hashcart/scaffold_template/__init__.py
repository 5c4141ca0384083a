"""Files `hashcart new-plugin NAME` copies, with `${name}`-style placeholders filled in."""
