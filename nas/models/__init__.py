"""Model builders (torch; imported lazily by evaluators)."""
