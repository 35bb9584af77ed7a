"""Writes .dvc/plots_offline.html: DVC's plots page with Vega inlined, so `dvc plots show` works offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN and is blank without a
network. .dvc/config points `plots.html_template` at the page this writes. Unpack the npm
packages of the versions DVC's renderer (dvc-render) asks for, then run this:

    cd /tmp && npm pack vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2 \
        && for f in vega*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
    .venv/bin/python scripts/make_plots_template.py /tmp/vega-5.20.2 /tmp/vega-lite-5.2.0 /tmp/vega-embed-6.18.2

The three libraries are BSD-3-Clause (University of Washington Interactive Data Lab); their
licence texts go into the page with them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / ".dvc" / "plots_offline.html"
BUILDS = {"vega": "vega.min.js", "vega-lite": "vega-lite.min.js", "vega-embed": "vega-embed.min.js"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs=3, type=Path, help="unpacked vega, vega-lite and vega-embed npm packages")
    args = parser.parse_args()
    scripts, licences = [], []
    for (name, build), root in zip(BUILDS.items(), args.packages):
        package = root / "package"
        version = json.loads((package / "package.json").read_text())["version"]
        code = (package / "build" / build).read_text(encoding="utf-8")
        if "</script" in code or "{plot_divs}" in code:
            raise SystemExit(f"{build} cannot be inlined as it is")
        licences.append(f"{name} {version}:\n{(package / 'LICENSE').read_text(encoding='utf-8').strip()}")
        scripts.append(f"<script>/* {name} {version}, BSD-3-Clause */\n{code}\n</script>")
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<title>DVC Plot</title>\n"
        "<!-- Written by scripts/make_plots_template.py: Vega inlined so that the page works offline.\n"
        + "\n\n".join(licences).replace("--", "- -")
        + "\n-->\n"
        + "\n".join(scripts)
        + "\n<style> table { border-spacing: 15px; } </style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n"
    )
    OUT.write_text(page, encoding="utf-8")
    print(f"wrote {OUT} ({len(page) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
