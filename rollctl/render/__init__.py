"""Renderers: rich for people, JSON for machines, jinja2 for HTML. They never compute statistics."""
