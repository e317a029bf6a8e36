"""Look at a dataset: numbers (`stats`), pictures (`preview`) and the card's histogram."""
