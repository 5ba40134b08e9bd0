"""Draw each row of the Grafana dashboard, from a live local Prometheus, into docs/images/.

    uv run python docs/tools/dashboard.py    # (task dashboard) a private process-runtime stack,
                                             # a bounded workout, then one PNG per row
    uv run python docs/tools/dashboard.py --prometheus URL --since 300   # from a running stack

Each row of panels (panels side by side in Grafana) becomes docs/images/dashboard-row-<n>.png,
with the panels' titles and units as in Grafana and Service = All. Each PNG carries a tEXt chunk
`Panels-SHA256`, the digest of its row's titles, units and queries:
tests/docs/test_dashboard_images.py fails when the dashboard changed and the pictures did not.
"""

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kontaxa_local import dashboard

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs/images"
PANELS_KEY = "Panels-SHA256"
PREFIX = "dashboard-row-"
STEP = dashboard.SCRAPE_SECONDS  # the finest step worth asking for


def image_path(index: int) -> Path:
    """The picture of row `index` (0-based)."""
    return IMAGES / f"{PREFIX}{index + 1}.png"


def _unit_axis(axis: object, unit: str) -> str:
    """Tick format and axis label for a Grafana unit id."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    if unit == "percentunit":
        axis.set_major_formatter(PercentFormatter(1.0))  # type: ignore[attr-defined]
        return "percent"
    if unit == "s":

        def seconds(value: float, _: int) -> str:
            return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2g} s"

        axis.set_major_formatter(FuncFormatter(seconds))  # type: ignore[attr-defined]
        return "latency"
    return {"reqps": "req/s", "none": ""}.get(unit, unit)


def draw(prometheus_url: str, start: float, end: float) -> list[Path]:
    """One PNG per dashboard row from `prometheus_url` over [start, end]; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    written = []
    rows = dashboard.rows()
    for index, row in enumerate(rows):
        figure, axes = plt.subplots(1, len(row), figsize=(6.4 * len(row), 3.4), squeeze=False)
        for ax, panel in zip(axes[0], row, strict=True):
            highest = 0.0
            for query in panel.queries:
                expr = dashboard.expand(query.expr, STEP)
                for labels, points in dashboard.query_range(prometheus_url, expr, start, end, STEP):
                    times = [datetime.fromtimestamp(t, UTC) for t, _ in points]
                    highest = max([highest, *(v for _, v in points)])
                    ax.plot(
                        times,
                        [v for _, v in points],
                        label=dashboard.legend(query.legend, labels),
                        linewidth=1.4,
                    )
            ax.set_title(panel.title, loc="left", fontsize=11, fontweight="bold")
            ax.set_ylabel(_unit_axis(ax.yaxis, panel.unit))
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=6))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
            ax.grid(alpha=0.3)
            ax.set_ylim(0, highest * 1.15 or 1)  # headroom above the highest line, as Grafana
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, loc="upper left")
            else:
                ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes)
        figure.tight_layout()
        path = image_path(index)
        figure.savefig(path, dpi=90, metadata={PANELS_KEY: dashboard.panels_digest(row)})
        plt.close(figure)
        written.append(path)
    for stale in IMAGES.glob(f"{PREFIX}*.png"):
        if stale not in written:
            stale.unlink()
    return written


def from_private_stack() -> list[Path]:
    """Bring up a private process-runtime stack, work it out, draw, take it down."""
    from kontaxa_e2e.monitoring import work_out
    from kontaxa_e2e.targets import ProcessTarget

    with tempfile.TemporaryDirectory(prefix="kontaxa-dashboard-") as state:
        target = ProcessTarget(Path(state))
        try:
            if target.prometheus_url is None:
                raise SystemExit("dashboard: the stack runs no Prometheus (see local-up's output)")
            workout = work_out(target)
            time.sleep(STEP * 2)  # the last scrapes and rule evaluations
            return draw(target.prometheus_url, workout.start - 10, time.time())
        finally:
            target.close()


def main() -> int:
    """Draw from a private stack, or from `--prometheus` over the last `--since` seconds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", help="a running Prometheus (default: a private stack)")
    parser.add_argument("--since", type=float, default=600, help="with --prometheus: seconds")
    args = parser.parse_args()
    if args.prometheus:
        now = time.time()
        paths = draw(args.prometheus.rstrip("/"), now - args.since, now)
    else:
        paths = from_private_stack()
    for path in paths:
        print(f"dashboard: wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
