"""docs/images/dashboard-row-*.png are drawn from the dashboard's current panels, and shown."""

import dashboard as drawing
import pytest
from diagram import text_chunks
from markdown_checks import ROOT

from kontaxa_local import dashboard

MONITORING_DOC = ROOT / "docs/monitoring.md"


def test_one_current_picture_per_row() -> None:
    """Each row's PNG records the digest of that row's titles, units and queries."""
    rows = dashboard.rows()
    assert rows, "the dashboard has no panels"
    for index, row in enumerate(rows):
        path = drawing.image_path(index)
        assert path.exists(), f"{path.relative_to(ROOT)} is missing: run ./task dashboard"
        recorded = text_chunks(path.read_bytes()).get(drawing.PANELS_KEY)
        titles = ", ".join(p.title for p in row)
        assert recorded == dashboard.panels_digest(row), (
            f"{path.relative_to(ROOT)} is older than the dashboard's row ({titles}): "
            "run ./task dashboard"
        )
    drawn = sorted(drawing.IMAGES.glob(f"{drawing.PREFIX}*.png"))
    assert drawn == [drawing.image_path(i) for i in range(len(rows))], "a picture of no row"


def test_monitoring_doc_shows_every_row() -> None:
    text = MONITORING_DOC.read_text()
    for index in range(len(dashboard.rows())):
        name = drawing.image_path(index).relative_to(ROOT / "docs").as_posix()
        assert f"]({name})" in text, f"docs/monitoring.md does not show {name}"


@pytest.mark.parametrize("change", ["title", "unit", "expr"])
def test_a_changed_panel_changes_the_digest(change: str) -> None:
    """The check above fails when a panel changes without its picture."""
    from dataclasses import replace

    row = dashboard.rows()[0]
    panel = row[0]
    changed = {
        "title": replace(panel, title=panel.title + "!"),
        "unit": replace(panel, unit="bytes"),
        "expr": replace(panel, queries=(dashboard.Query("vector(1)", ""),)),
    }[change]
    assert dashboard.panels_digest([changed, *row[1:]]) != dashboard.panels_digest(row)
