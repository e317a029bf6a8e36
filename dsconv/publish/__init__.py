"""Datasets leaving dsconv: the card, the Hub push, exports for other tools, and Roboflow
downloads."""
