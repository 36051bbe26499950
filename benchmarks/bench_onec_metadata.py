"""(h) 1C: parsing the `$metadata` of a whole УТ 11.5 (about 15 MB) — time and peak memory of the connector's parser.

The document is the 1C emulator's full profile (`B24_1C_ONEC_METADATA=full`, sandbox/b24_1c_sandbox/onec/fullmeta.py:
3,800+ entity types, 950+ enum types, the proportions of a real УТ 11.5). Each parser runs in a fresh process
(spawned, so nothing of the generator's memory is inherited): the best of `--repeat` timed runs without tracemalloc,
then one run under tracemalloc for the peak of Python allocations, and the process's peak RSS growth over the
document it read. Goals: parse under 5 s and a peak under 40 MB of allocations (the document itself, already in
memory as the HTTP body, is not counted). `dom` is the parser the connector had before (ElementTree.fromstring of
the whole document, then walking it) and shows the memory goal failing; `stream` is `connector.onec.metadata`.

    .venv/bin/python benchmarks/bench_onec_metadata.py [--repeat 3] [--parser stream|dom|both] [--seed 7]
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import sys
import tempfile
import time
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import figure, header, parser  # noqa: E402

GOAL_SECONDS = 5.0
GOAL_PEAK_MB = 40.0
MB = 1024 * 1024
_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


def dom_parse(xml: bytes) -> dict[str, Any]:
    """The connector's parser before streaming: the whole tree in memory, then walked (kept for contrast)."""
    from connector.onec.metadata import EntityInfo

    root = ET.fromstring(xml)
    complex_types = {
        ct.get("Name", ""): {p.get("Name", ""): p.get("Type", "") for p in ct.iter(f"{_EDM}Property")}
        for ct in root.iter(f"{_EDM}ComplexType")
    }
    entities: dict[str, Any] = {}
    for et in root.iter(f"{_EDM}EntityType"):
        info = EntityInfo(et.get("Name", ""))
        for prop in et.findall(f"{_EDM}Property"):
            name, edm = prop.get("Name", ""), prop.get("Type", "")
            if edm.startswith("Collection("):
                info.tables[name] = complex_types.get(edm[len("Collection(") : -1].split(".", 1)[-1], {})
            else:
                info.properties[name] = edm
        info.navigation = {n.get("Name", "") for n in et.findall(f"{_EDM}NavigationProperty")}
        entities[info.name] = info
    return entities


def _measure(kind: str, path: str, repeat: int, out: Any) -> None:
    """In a fresh process: best time of `repeat` parses, tracemalloc peak of one, RSS growth."""
    sys.path.insert(0, str(ROOT))
    from connector.onec.metadata import parse_edmx

    parse = parse_edmx if kind == "stream" else dom_parse
    xml = Path(path).read_bytes()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best = float("inf")
    entities: dict[str, Any] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        entities = parse(xml)
        best = min(best, time.perf_counter() - started)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del entities
    tracemalloc.start()
    entities = parse(xml)
    _, peak = tracemalloc.get_traced_memory()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    order = entities["Document_ЗаказКлиента"]
    out.put(
        {
            "seconds": best,
            "peak_mb": peak / MB,
            "kept_mb": kept / MB,
            "rss_growth_mb": rss_after - rss_before,
            "entities": len(entities),
            "order_tables": sorted(order.tables),
        }
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0], 1)
    p.add_argument("--repeat", type=int, default=3, help="timed parses per parser (best is printed)")
    p.add_argument("--parser", choices=("stream", "dom", "both"), default="both")
    args = p.parse_args()
    from b24_1c_sandbox.onec.app import ODataApp
    from b24_1c_sandbox.onec.infobase import Infobase

    app = ODataApp(Infobase("ut11.5"))
    app.knobs.metadata, app.knobs.metadata_seed = "full", args.seed
    started = time.perf_counter()
    doc = app.metadata()
    made = time.perf_counter() - started
    counts = {tag: doc.count(f"<{tag} ".encode()) for tag in ("EntityType", "ComplexType", "EnumType")}
    counts["NavigationProperty"] = doc.count(b"<NavigationProperty ")
    counts["FunctionImport"] = doc.count(b"<FunctionImport ")
    header(
        "(h) 1C $metadata of a whole УТ 11.5",
        [
            f"document {len(doc) / MB:.1f} MB (seed {args.seed}, generated in {made:.1f} s): "
            + ", ".join(f"{n:,} {tag}" for tag, n in counts.items()),
            f"goals: parse < {GOAL_SECONDS:.0f} s, peak allocations < {GOAL_PEAK_MB:.0f} MB",
        ],
    )
    kinds = ["stream", "dom"] if args.parser == "both" else [args.parser]
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metadata.xml"
        path.write_bytes(doc)
        del doc
        for kind in kinds:
            queue = ctx.Queue()
            child = ctx.Process(target=_measure, args=(kind, str(path), args.repeat, queue))
            child.start()
            r = queue.get()
            child.join()
            ok = r["seconds"] < GOAL_SECONDS and r["peak_mb"] < GOAL_PEAK_MB
            print(f"\n  parser: {kind}{'' if ok else '   <-- misses a goal'}")
            figure("entity types read", f"{r['entities']:,}")
            figure("Document_ЗаказКлиента tables", ", ".join(r["order_tables"]))
            figure(
                "parse seconds (best)",
                f"{r['seconds']:.2f}",
                f"ratio to goal {r['seconds'] / GOAL_SECONDS:.2f}",
            )
            figure(
                "peak allocations MB",
                f"{r['peak_mb']:.1f}",
                f"ratio to goal {r['peak_mb'] / GOAL_PEAK_MB:.2f}",
            )
            figure("kept after parse MB", f"{r['kept_mb']:.1f}")
            figure("peak RSS growth MB", f"{r['rss_growth_mb']:.1f}")


if __name__ == "__main__":
    main()
