"""Plans for people: `compare`, `chart`, `report` and `export` (engines: allocator.views)."""
from __future__ import annotations

from pathlib import Path

import click

from allocator.commands.common import friendly, overwrite_option
from allocator.errors import InputError


# ---------------------------------------------------------------- plans for people: compare, chart, report, export

plans_argument = click.argument("plans", nargs=-1, required=True, type=click.Path(path_type=Path))
force_option = click.option("--force", is_flag=True, help="Go on even when the plans (or --instance) belong to different instances.")
instance_option = click.option("--instance", "instance_path", type=click.Path(path_type=Path),
                               help="The instance the plans were solved on (default: plan.json's instance_source).")
lang_option = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of labels and words.")
label_option = click.option("--label", "labels", multiple=True,
                            help="A name per plan, in order (default: the folder names, else the options that differ).")
by_option = click.option("--by", type=click.Choice(["district", "town"]), default="district", show_default=True, help="Compare districts or streets/towns.")


def _progress(message: str) -> None:
    click.echo(f"... {message}", err=True)


def _note_city(planset) -> None:
    if planset.instance is None:
        source = planset.plans[0].meta.get("instance_source")
        click.echo(f"note: the plans' instance ({source}) was not found: equity uses equal weights and towns show ids; "
                   "pass --instance DIR", err=True)


class _Warnings:
    """Python warnings (a missing CJK font) as one plain 'warning:' line each on stderr."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        for message in dict.fromkeys(str(w.message) for w in self.caught if "font" in str(w.message).lower()):
            click.echo(f"warning: {message}", err=True)


@click.command("compare")
@plans_argument
@by_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]), help="Default: from --out's suffix, else table.")
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (.csv, .xlsx, .json or .txt) instead of the terminal.")
@force_option
@instance_option
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="Language of the table's labels.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@label_option
@overwrite_option
@friendly
def compare_command(plans, by, fmt, out, force, instance_path, lang, as_json, labels, overwrite) -> None:
    """Plans side by side per district (or town): staff, coverage, spend, deltas against the first plan, equity."""
    from allocator.views.compare import check_same_model, compare, load_plans
    from allocator.views.compare_text import for_people, render_roadmap_text, render_text, roadmap_csv, roadmap_to_json, to_json
    from allocator.files import quote_frame
    from allocator.views.export import check_out, export_comparison, export_roadmap_comparison
    from allocator.views.roadmap import compare_roadmaps, refuse_mixed

    fmt = "json" if as_json else fmt or {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}.get(out.suffix.lower() if out else "", "table")
    if fmt == "xlsx" and out is None:
        raise InputError("--format xlsx writes a workbook: name it with --out FILE.xlsx", file="--out")
    if out is not None:
        check_out(out, {"table": (".txt",), "csv": (".csv",), "xlsx": (".xlsx",), "json": (".json",)}[fmt], f"--format {fmt}",
                  overwrite)
    planset = load_plans(list(plans), force=force, instance=instance_path, progress=_progress, labels=labels)
    if refuse_mixed(planset.plans, "compare roadmaps with roadmaps (year by year), or plans of one year with each other"):
        if by != "district":
            raise InputError("roadmaps are compared year by year for the whole city: --by town does not apply", file="--by")
        years = compare_roadmaps(planset.plans, planset.labels, planset.names, planset.folders)
        if fmt == "xlsx":
            click.echo(f"wrote {export_roadmap_comparison(years, out)}")
            return
        text = {"table": lambda: render_roadmap_text(years, lang), "json": lambda: roadmap_to_json(years),
                "csv": lambda: roadmap_csv(years)}[fmt]()
        _echo_or_write(text, out)
        return
    if not force:
        check_same_model(planset)
    _note_city(planset)
    result = compare(planset, by)
    if result.dropped:
        click.echo(f"note: plans of different models: compared only the columns they share; left out "
                   f"{', '.join(result.dropped)}", err=True)
    if fmt == "xlsx":
        click.echo(f"wrote {export_comparison(result, out)}")
        return
    text = {"table": lambda: render_text(result, lang), "json": lambda: to_json(result),
            "csv": lambda: quote_frame(for_people(result.wide())).to_csv(index=False, lineterminator="\n")}[fmt]()
    _echo_or_write(text, out)


def _echo_or_write(text: str, out: Path | None) -> None:
    from allocator.files import write_text

    if out is None:
        click.echo(text.rstrip("\n"))
    else:
        click.echo(f"wrote {write_text(out, text if text.endswith(chr(10)) else text + chr(10))}")


@click.command("chart")
@plans_argument
@click.option("--kind", required=True, type=click.Choice(["bars", "lorenz", "map", "coverage", "tradeoff", "roadmap"]),
              help="Which chart (roadmap: a roadmap plan year by year).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Image file: .png or .svg.")
@instance_option
@by_option
@click.option("--metric", help="Metric of bars (and of map --color change), e.g. enforcement_total, grid_workers, sites_open.")
@click.option("--color", "colour", type=click.Choice(["coverage", "change"]), default="coverage", show_default=True, help="What colours the towns of a map.")
@lang_option
@force_option
@label_option
@overwrite_option
@friendly
def chart_command(plans, kind, out, instance_path, by, metric, colour, lang, force, labels, overwrite) -> None:
    """Draw one chart of PLAN(s): bars, Lorenz curves, a town map, service coverage, the tradeoff, or a roadmap's years."""
    from allocator.views.chart_data import ChartOptions, build_chart, needs_instance
    from allocator.views.charts import save
    from allocator.views.compare import load_plans
    from allocator.files import write_file
    from allocator.views.export import check_out

    check_out(out, (".png", ".svg"), "a chart", overwrite)
    planset = load_plans(list(plans), force=force, instance=instance_path,
                         city="required" if needs_instance(kind) else "optional", progress=_progress, labels=labels)
    with _Warnings():
        _progress(f"drawing {kind}")
        figure = build_chart(kind, planset, ChartOptions(by=by, lang=lang, metric=metric, colour=colour))
        path = write_file(out, lambda tmp: save(figure, tmp))
    click.echo(f"wrote {path}")


@click.command("report")
@plans_argument
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The HTML file to write (one self-contained file).")
@lang_option
@instance_option
@force_option
@label_option
@overwrite_option
@friendly
def report_command(plans, out, lang, instance_path, force, labels, overwrite) -> None:
    """One self-contained HTML report of PLAN(s) for district leaders: changes, charts, equity, solver status."""
    from allocator.views.compare import load_plans
    from allocator.files import write_text
    from allocator.views.export import check_out
    from allocator.views.report import render_report

    check_out(out, (".html", ".htm"), "the report", overwrite)
    planset = load_plans(list(plans), force=force, instance=instance_path, progress=_progress, labels=labels)
    _note_city(planset)
    with _Warnings():
        html = render_report(planset, lang=lang, progress=_progress)
    click.echo(f"wrote {write_text(out, html)}")


@click.command("export")
@click.argument("plan", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@instance_option
@overwrite_option
@friendly
def export_command(plan: Path, out: Path, instance_path: Path | None, overwrite: bool) -> None:
    """Write PLAN as one Excel workbook OUT.xlsx (a summary sheet and a sheet per table, headers EN / 中文),
    or as GIS layers OUT.gpkg / OUT.geojson (districts, towns, grids, sites, assignments) for QGIS or ArcGIS."""
    from allocator.views.export import export_plan
    from allocator.views.gis import GIS_SUFFIXES, export_layers

    if out.suffix.lower() in GIS_SUFFIXES:
        click.echo(f"wrote {export_layers(plan, out, instance_path, progress=_progress, overwrite=overwrite)}")
        return
    click.echo(f"wrote {export_plan(plan, out, instance_path, progress=_progress, overwrite=overwrite)}")
