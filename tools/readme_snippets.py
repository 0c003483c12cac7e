"""README.md's code snippets, by name, so that the scripts checking them run exactly what README shows.

A snippet is the fenced code block right after a marker line `<!-- snippet NAME: ... -->`:

    from readme_snippets import snippet
    code = snippet("python-sqlite")          # the block's text, without the ``` fences
"""
import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def snippet(name, readme=README):
    """The code block following `<!-- snippet NAME: ... -->` in `readme`; raises if absent."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"<!-- snippet " + re.escape(name) + r":[^\n]*-->\n```[a-z]*\n(.*?)\n```", text, re.S)
    if match is None:
        raise SystemExit(f"{readme}: no snippet named '{name}' (a `<!-- snippet {name}: ... -->` line "
                         "followed by a fenced code block)")
    return match.group(1) + "\n"
