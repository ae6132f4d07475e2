"""Culprit finding: which change (an upstream commit, a stack component) broke a test."""
