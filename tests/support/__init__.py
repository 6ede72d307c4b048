"""Helpers shared by the tests: fakes, samples and builders."""
