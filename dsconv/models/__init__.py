"""Model families and what train and eval share about them: the adapter each family provides
(`base`, one module a family), the registry that finds one from a name or a checkpoint, where a
checkpoint comes from (`sources`), loading it (`loading`) and asking it for answers
(`generation`). `training` and `eval` both build on this package, never on each other."""
