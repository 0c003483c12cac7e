#!/usr/bin/env python3
"""Independent checks of a `gigtrace atlas` folder, used by AtlasCommandTests.

    check_atlas.py pages ROOT [PAGE...]     # html5lib (strict) parse of every .html page, links
    check_atlas.py browser ROOT OUT PAGE... # Debian's chromium, headless: console, DOM, screenshot

`pages` prints JSON {problems, pages: {rel: {scripts, eventAttributes, classes, images}}, text: {PAGE: text}}:
every page must parse as HTML5 without a single parse error, every href/src/xlink:href must name a
file inside ROOT (no scheme, no absolute path, nothing outside), and no element may carry an on*
attribute. `browser` loads each PAGE from file:// in headless chromium, takes a screenshot
(OUT/<page>.png) and dumps the DOM after scripts ran; it prints JSON {PAGE: {consoleErrors,
variance, dom}} with the console lines that report errors (uncaught exceptions, console.error,
failed resource loads) and the grey-level variance of the screenshot.
"""
import json
import os
import re
import subprocess
import sys
import urllib.parse

import html5lib


def local(name):
    return name.split("}")[-1] if isinstance(name, str) else ""


def check_pages(root, wanted):
    root = os.path.realpath(root)
    problems, pages, texts = [], {}, {}
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(".html"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            with open(path, "rb") as f:
                data = f.read()
            parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
            try:
                doc = parser.parse(data)
            except Exception as e:  # html5lib.html5parser.ParseError
                problems.append(f"{rel}: not valid HTML5: {e} (errors: {parser.errors[:3]})")
                continue
            info = {"scripts": 0, "eventAttributes": [], "classes": {}, "images": 0}
            for el in doc.iter():
                tag = local(el.tag)
                if tag == "script":
                    info["scripts"] += 1
                if tag in ("img", "image"):
                    info["images"] += 1
                for attr, value in el.attrib.items():
                    a = local(attr).lower()
                    if a.startswith("on"):
                        info["eventAttributes"].append(f"{tag}@{a}")
                    if a in ("href", "src"):
                        problem = check_link(root, os.path.dirname(path), value)
                        if problem:
                            problems.append(f"{rel}: {tag} {a}={value!r}: {problem}")
                for c in (el.get("class") or "").split():
                    key = f"{tag}.{c}"
                    info["classes"][key] = info["classes"].get(key, 0) + 1
            pages[rel] = info
            if rel in wanted:
                texts[rel] = "".join(doc.itertext())
    print(json.dumps({"problems": problems, "pages": pages, "text": texts}))


def check_link(root, folder, value):
    if value.startswith("#"):
        return None
    url = urllib.parse.urlsplit(value)
    if url.scheme or url.netloc:
        return "points outside the atlas (has a scheme or host)"
    if url.path.startswith("/"):
        return "absolute path"
    target = os.path.realpath(os.path.join(folder, urllib.parse.unquote(url.path)))
    if not target.startswith(root + os.sep):
        return "resolves outside the atlas folder"
    if not os.path.isfile(target):
        return "file does not exist"
    return None


ERROR = re.compile(r"CONSOLE.*(Uncaught|Error|error|Failed to load)|Failed to load resource|ERR_FILE_NOT_FOUND")


def browser(root, out, pages):
    import numpy as np
    from PIL import Image
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-dev-shm-usage", "--window-size=1280,1000", "--enable-logging=stderr", "--v=0"]
    result = {}
    os.makedirs(out, exist_ok=True)
    for page in pages:
        url = "file://" + os.path.realpath(os.path.join(root, page))
        shot = os.path.join(out, page.replace("/", "_").replace(".html", ".png"))
        a = subprocess.run(base + [f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
        b = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
        errors = [line for line in (a.stderr + b.stderr).splitlines() if ERROR.search(line)]
        variance = -1.0
        if os.path.isfile(shot):
            variance = float(np.asarray(Image.open(shot).convert("L"), dtype=np.float64).var())
        result[page] = {"consoleErrors": errors, "variance": variance, "dom": b.stdout,
                        "exit": [a.returncode, b.returncode]}
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "pages":
        check_pages(sys.argv[2], set(sys.argv[3:]))
    else:
        browser(sys.argv[2], sys.argv[3], sys.argv[4:])
