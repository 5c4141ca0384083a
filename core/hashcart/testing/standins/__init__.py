"""Local stand-ins for the chat platforms: fake servers that real client libraries accept."""
