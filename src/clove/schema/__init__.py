"""Schema front-ends: text in each supported language compiles to one typed IR (``ir``)."""
