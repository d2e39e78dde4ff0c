"""Test scaffolding shared by several suites (not shipped in the product packages)."""
