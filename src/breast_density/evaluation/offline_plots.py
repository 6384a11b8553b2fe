"""A page template for `dvc plots show` that renders without network access.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so on an air-gapped machine every
interactive plot stays blank. This template carries the three libraries inline (bundled by the pinned
vl-convert-python package) and has no `{scripts}` placeholder, so DVC inserts no CDN script tags.
"""

from __future__ import annotations

# DVC fills `{plot_divs}` (required) and `{refresh_tag}`; each plot div calls `vegaEmbed(...)` inline as the
# page is parsed, so the bundle must define `window.vegaEmbed` synchronously in <head>.
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC plots</title>
    <script type="text/javascript">
{bundle}
    </script>
    <style>
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")


def vega_bundle(vega_lite: str) -> str:
    """vega, vega-lite `vega_lite` (e.g. "5.21") and vega-embed as one script that sets window.vegaEmbed."""
    import vl_convert  # imported here: only the plots_template stage needs it

    return vl_convert.javascript_bundle(vl_version=vega_lite)


def offline_template(bundle: str) -> str:
    """The page template with `bundle` inlined; the bundle runs in its own function scope, so its top-level
    names cannot clash with the `var spec` each DVC plot div declares."""
    if "</script" in bundle.lower():
        raise ValueError("the vega bundle contains '</script' and cannot be inlined in a <script> element")
    clash = [p for p in PLACEHOLDERS if p in bundle]
    if clash:
        raise ValueError(f"the vega bundle contains DVC template placeholders {clash}")
    page = PAGE.replace("{{", "\0").replace("}}", "\1")  # the stylesheet's literal braces
    page = page.replace("{bundle}", "(() => {\n" + bundle + "\n})();")
    return page.replace("\0", "{").replace("\1", "}")
