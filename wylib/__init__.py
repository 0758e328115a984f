"""wylib: the reusable code of the WyckoffTransformer study."""
