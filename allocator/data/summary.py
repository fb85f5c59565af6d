"""A one-screen summary of a valid instance."""
from __future__ import annotations

from allocator.data.instance import Instance
from allocator.data.schema import POPULATION_BASES, SERVICES


def summarize(instance: Instance) -> str:
    c = instance.config
    towns, grids, sites = instance.towns, instance.grids, instance.sites
    lines = [
        f"instance   {c.name}  ({instance.source})",
        f"sha256     {instance.content_hash()[:16]}",
        f"districts  {len(instance.districts):>8,}   " + _counts(instance.districts["kind"]),
        f"towns      {len(towns):>8,}   " + _counts(towns["kind"]),
        f"grids      {len(grids):>8,}   " + _counts(grids["kind"]),
        f"sites      {len(sites):>8,}   existing {int(sites['existing'].sum()):,}, candidate {int((sites['existing'] == 0).sum()):,}",
    ]
    for service in SERVICES:
        s = sites[sites["service"] == service]
        if service in c.services or len(s):
            lines.append(f"  {service:<13}{len(s):>7,}   existing {int(s['existing'].sum()):,}")
    lines.append("population " + "   ".join(
        f"{b}{'*' if b == c.population_basis else ''} {int(instance.town_population(b).sum()):,}" for b in POPULATION_BASES))
    lines.append(f"budget     {c.budget:,.0f} (10k CNY/yr)" + (f"   headcount {c.headcount:,}" if c.headcount else ""))
    lines.append(f"staff now  full-time grid {int(grids['fulltime_now'].sum()):,}, part-time grid {int(grids['parttime_now'].sum()):,}, enforcement {int(towns['enforcement_now'].sum()):,}")
    if instance.travel is not None:
        lines.append(f"travel     {len(instance.travel):,} grid-site times given")
    lines.append("* = population basis in use")
    return "\n".join(lines)


def _counts(kinds) -> str:
    counts = kinds.value_counts()
    return ", ".join(f"{k} {int(v):,}" for k, v in counts.sort_index().items())
