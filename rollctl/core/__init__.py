"""Core functions: one per command, each returning a frozen dataclass. No typer, rich or jinja2 here."""
