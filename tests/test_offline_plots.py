"""The offline page template of `dvc plots show`: libraries inline, no CDN tag, DVC's placeholders kept."""

from __future__ import annotations

import pytest
from dvc_render.html import HTML

from breast_density.evaluation.offline_plots import offline_template, vega_bundle
from breast_density.params import parse_params
from breast_density.stages import plots_template


def test_template_inlines_the_bundle_in_its_own_scope_and_keeps_dvc_placeholders() -> None:
    page = offline_template("const spec = 1; window.vegaEmbed = () => spec;")
    assert "{plot_divs}" in page and "{refresh_tag}" in page
    assert "{scripts}" not in page  # DVC would insert its CDN <script src=...> tags there
    assert "(() => {\nconst spec = 1;" in page  # a top-level `const spec` must not clash with `var spec`
    assert "table { border-spacing" in page
    filled = HTML(page).with_scripts('<script src="https://cdn.example/vega.js"></script>')
    filled = filled.with_element("<div id='p'></div>").embed()
    assert "<div id='p'></div>" in filled and "cdn.example" not in filled


@pytest.mark.parametrize("bad", ["x = '</script>';", "s = '{plot_divs}';"])
def test_a_bundle_that_would_break_the_page_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="bundle"):
        offline_template(bad)


def test_stage_writes_a_self_contained_page_with_the_pinned_vega_lite(tmp_path) -> None:
    out = tmp_path / "plots_template/index.html"
    plots_template.run(parse_params({"plots_template": {"vega_lite": "5.21"}}), out)
    page = out.read_text(encoding="utf-8")
    assert "window.vegaEmbed=" in page.replace(" ", "")
    assert "<script src" not in page and 'src="http' not in page
    assert len(page) > 300_000  # vega, vega-lite and vega-embed, not a stub


def test_unknown_vega_lite_version_fails_with_the_version_named() -> None:
    with pytest.raises(Exception, match=r"4\.0"):
        vega_bundle("4.0")
