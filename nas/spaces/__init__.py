"""Search spaces: how architectures are encoded, sampled and mutated (pure)."""
