"""Shared by the tests that build tiny text notebooks: the MyST front matter jupytext reads."""

#: Front matter up to (not including) its closing ``---``; no braces, so a template that
#: starts with it can still be ``.format``-ed.
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
"""
