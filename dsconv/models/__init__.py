"""Model families: the adapter each provides, the registry that finds one from a name or a
checkpoint, shared by train and eval."""
