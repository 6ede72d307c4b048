"""The pure core: bundle types, the mapping language, its evaluator and the tag planner."""
