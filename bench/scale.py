"""``make bench-scale``: the staff pages at 10k / 100k / 1M (and 10M) drawings (issue 25), written to bench/SCALE.md.

For each size, in a scratch PostgreSQL database (``SCALE_DATABASE``, default ``digits_scale`` on the server of
``SCALE_SERVER``; never the test or the dev database):

1. create it afresh and migrate it to 0005 (the schema before issue 25);
2. fill it by SQL with the issue's mix (bench/scale_fill.sql);
3. EXPLAIN the lookups whose indexes change, and list the indexes with their sizes (before);
4. migrate to 0006 (timed: the answer columns backfilled, the indexes built), then to the latest (timed: the bytes
   to their own table; up to ``--check-bytes-up-to`` the sha256 of every image and input checked after the move,
   after moving back and after moving again), ``refresh_stats`` (timed), VACUUM ANALYZE; the same EXPLAINs and
   index list (after), and the storage per drawing;
5. time each staff request in-process (bench/scale_requests.py), median of 3 after a warm-up.

Sizes from ``--latest-fill-from`` (5M) skip 1-4's migrations: the latest schema is filled directly
(bench/scale_fill_latest.sql), as at 10M the migrations' rewrites need more disk than this machine has.

    .venv/bin/python -m bench.scale --sizes 10000,100000,1000000
    .venv/bin/python -m bench.scale --sizes 10000000 --add      # beside the sizes already in bench/SCALE.json
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SERVER = os.environ.get("SCALE_SERVER", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("SCALE_DATABASE", "digits_scale")
URL = f"{SERVER}/{DATABASE}"
OUT = ROOT / "bench" / "SCALE.md"

# The issue's numbers (before), median of 3 against production gunicorn on 2 shared cores.
BEFORE = {
    "accuracy dashboard": ("94", "367", "3,573"),
    "GET /api/accuracy/": ("46", "319", "3,094"),
    "queue next (disagreements waiting)": ("10", "28", "327"),
    "queue next (the rest)": ("20", "289", "1,442"),
    "admin changelist, last page": ("78", "752", "5,074"),
    "admin filter keras says 3": ("43", "63", "325"),
    "admin filter confidence >= 0.99": ("48", "112", "851"),
    "API list, last page (cursor)": ("24", "98", "879"),
    "insert of a predict": ("1.8", "1.9", "1.6"),
}
PLANS = (  # "|" between names: some have commas
    "accuracy dashboard|GET /api/accuracy/|admin changelist, last page|admin filter confidence >= 0.99|"
    "queue next (the rest)"
)
EXPLAINS = {
    "idempotency key lookup": "SELECT id FROM recognizer_drawing WHERE idempotency_key = md5('key' || 4242)",
    "a drawing's predictions": "SELECT * FROM recognizer_prediction WHERE drawing_id = 4242",
    "a drawer's drawings": (
        "SELECT id FROM recognizer_drawing WHERE drawer_key = md5('drawer42') ORDER BY created DESC, id DESC LIMIT 50"
    ),
    "queue: next waiting drawing": (
        "SELECT id FROM recognizer_drawing WHERE NOT (label_source = 'staff') ORDER BY queue_rank, id LIMIT 50"
    ),
    "admin: keras says 3, newest first": (
        "SELECT id FROM recognizer_drawing WHERE keras_digit = 3 ORDER BY created DESC, id DESC LIMIT 50"
    ),
}


NOTES = [
    "## What the figures rest on",
    "",
    "- **Dashboard, `/api/accuracy/`, `manage.py accuracy`** read the accuracy rollup (`RollupDrawing`, "
    "`RollupPrediction`, `RollupLabeled`: counts by day, model, version, source, label, agreement, predicted digit "
    "and confidence band), a few tens of thousands of rows whatever the number of drawings (the rollup rows above). "
    "A predict updates no counter: the drawing is counted by `Rollup.fold` (`refresh_stats --follow 30`, or the "
    "page's own read of up to 5,000 waiting drawings); label writes and deletions move their drawings between "
    "cells in their own transaction. `tests/staff/test_accuracy_rollup.py` checks the numbers equal a full "
    "recompute after random predicts, labels, relabels, feedback, undo, bulk actions, imports, deletions, folds "
    "and rebuilds. On PostgreSQL the five groupings of the labeled predictions' cells are one scan (GROUPING "
    "SETS: 70 -> 37 ms for `accuracy.compute` at 10M, 61k cells); the rest of the dashboard's time is rendering "
    "its tables and SVG charts. The cells grow with days, versions and the mix of labels, not with drawings: "
    "sparse at 10k, they fill up towards 1M, which is most of the dashboard's growth from 10k to 1M.",
    "- **Queue**: `queue_rank` (disagreements, then agreements under 0.9, then the rest; the lower confidence "
    "within each) set at insert, and the partial index `drawing_queue_idx` on the waiting drawings: the next "
    'drawing is the index\'s first entry. "Drawings left" is counted up to 10,000 ("10000+" beyond).',
    "- **Admin list**: each model's digit and confidence and the lower confidence are the drawing's columns (no "
    "subquery per row), the filters read their indexes, a page is found by its ids (from the nearer end of the "
    "`(created, id)` index, so the last page costs what the first does; a page in the middle of a 1M list still "
    "walks up to half the index), and counts are the planner's estimate above 10,000 rows.",
    "- **API list**: cursor pages (`?cursor=`, keyset on `(created, id)`), `?page=` for the first 10,000 rows, "
    "counts exact up to 10,000 and estimated above unless `?count=true`.",
    "- **Indexes dropped**: the `_like` twins of `idempotency_key` (now a `UniqueConstraint`) and of "
    "`drawer_key`, and `recognizer_prediction`'s own `drawing_id` index (the unique `(drawing, model_name)` index "
    "starts with it); `created` is indexed with `id` for the lists' order. Added: the queue's partial index, "
    "the uncounted drawings' partial index, each model's digit with `(created, id)`, the lower confidence.",
    "- **Index sizes after** (up to 1M) include the migration's backfill: it rewrites every drawing once, "
    "so each index of `recognizer_drawing` holds the old entries until a `REINDEX` (VACUUM does not shrink an "
    "index), and the storage per drawing above counts them too. Drawings stored after the migration add to the "
    "before-sizes of the unchanged indexes only.",
    "- **The bytes** (item 5): the image and the 28×28 input are in `recognizer_drawingimage`, one row per "
    "drawing; `recognizer_drawing` keeps the hot columns only (storage rows above: what counting and the lists read "
    "against the bytes' table). Migration 0007 copies them in batches of 20,000 ids, each batch its own transaction "
    "(resumable: a copied drawing is skipped), 0008 copies what was stored meanwhile with inserts held off by a lock "
    "and drops the old columns; both reverse (the columns come back, filled again in batches). Up to 100k the "
    "sha256 of every image and input is compared after the move, after moving back and after moving again "
    "(above). PostgreSQL's DROP COLUMN frees no space by itself: the old table keeps its size until rows are "
    "rewritten or a `VACUUM FULL` / `pg_repack` in a quiet hour; the 10M database was filled straight into the new "
    "schema, so its storage is what a table written since looks like.",
    "- **10M** is filled into the latest schema by `bench/scale_fill_latest.sql` (the same mix, the answer columns "
    "set as an insert sets them): filling 0005 and migrating rewrites every row twice (0006's backfill, 0007's copy) "
    "and needs more than this machine's free disk at 10M. `--add` puts it beside the other sizes.",
    "- **The insert** is one predict's statement committed with `synchronous_commit` on, so it is mostly the WAL "
    "flush: at 1M it was timed right after loading, with the checkpoint still writing, in steps of the disk's "
    "4 ms; on the same 1M database later, at rest, 0.94 ms (median of 30, `--retime`). The columns it now sets "
    "and the indexes it now feeds (the queue's, the uncounted drawings', each model's digit, the lower confidence; "
    "three duplicate indexes fewer) are microseconds of that; `make bench` is the measure of predict throughput.",
    "- **Noise**: 2 shared cores, with other work running at the same time; medians of 3 after a warm-up, the "
    "three runs in bench/SCALE.json. Differences of a few tens of ms between sizes are within that noise.",
]


def psql(sql, db=DATABASE, *args):
    return subprocess.run(
        ["psql", f"{SERVER}/{db}", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", *args, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def django_env():
    """Production settings (DEBUG off: no query log) on the scratch database, plain HTTP for the test client."""
    env = {
        **os.environ,
        "DATABASE_URL": URL,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-scale-only",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
    }
    env.pop("REDIS_URL", None)  # the cache in-process: the leases don't need Redis here
    env.pop("CACHE_URL", None)
    return env


def manage(*args):
    env = django_env()
    t0 = time.perf_counter()
    out = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return time.perf_counter() - t0, out.stdout


def migrate_to_0005():
    """Every app migrated except what depends on recognizer's 0006 (the lifecycle app): the schema before issue 25.
    The lifecycle app's post_migrate hook reads its own tables, not there yet at 0005, so it is disconnected."""
    script = (
        "import django; django.setup()\n"
        "from django.apps import apps\n"
        "from django.core.management import call_command\n"
        "from django.db.models.signals import post_migrate\n"
        "for config in apps.get_app_configs():\n"
        "    if config.name == 'recognizer.lifecycle':\n"
        "        from recognizer.lifecycle.apps import register_committed\n"
        "        post_migrate.disconnect(register_committed, sender=config)\n"
        "call_command('migrate', 'recognizer', '0005', interactive=False, verbosity=0)\n"
        "for app in ('contenttypes', 'auth', 'admin', 'sessions', 'authtoken', 'axes'):\n"
        "    if apps.is_installed('django.contrib.' + app) or apps.is_installed(app) or app in ('authtoken', 'axes'):\n"
        "        try:\n"
        "            call_command('migrate', app, interactive=False, verbosity=0)\n"
        "        except Exception as e:\n"
        "            print('skip', app, e)\n"
    )
    env = {**django_env(), "DJANGO_SETTINGS_MODULE": "digitsite.settings", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([PY, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"migrating to 0005 failed:\n{out.stdout}\n{out.stderr}")


def explain_all(skip_new=False):
    out = {}
    for name, sql in EXPLAINS.items():
        if skip_new and ("queue_rank" in sql or "keras_digit" in sql):
            continue
        out[name] = psql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql).strip()
    return out


def indexes():
    return psql(
        "SELECT c.relname || ': ' || pg_size_pretty(pg_relation_size(c.oid)) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname IN ('recognizer_drawing', 'recognizer_prediction', 'recognizer_drawingimage') "
        "ORDER BY t.relname, c.relname"
    ).splitlines()


def fresh_database():
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", "postgres")
    psql(f"CREATE DATABASE {DATABASE}", "postgres")


def fill(n, script):
    t0 = time.perf_counter()
    subprocess.run(
        ["psql", URL, "-X", "-q", "-v", f"n={n}", "-f", str(ROOT / "bench" / script)], check=True, capture_output=True
    )
    return time.perf_counter() - t0


# The sha256 of every image and model input, kept before the bytes move, and how many differ from where they are now.
KEEP_DIGESTS = (
    "DROP TABLE IF EXISTS bench_sha; CREATE TABLE bench_sha AS "
    "SELECT id, sha256(image) AS image_sha, sha256(model_input) AS input_sha FROM recognizer_drawing"
)
DIFFER = (
    "SELECT (SELECT count(*) FROM bench_sha) || ' ' || (SELECT count(*) FROM {table}) || ' ' || "
    "(SELECT count(*) FROM bench_sha s LEFT JOIN {table} b ON b.{key} = s.id WHERE b.{key} IS NULL "
    "OR sha256(b.image) <> s.image_sha OR sha256(b.model_input) <> s.input_sha)"
)


def differing(where):
    table, key = ("recognizer_drawingimage", "drawing_id") if where == "moved" else ("recognizer_drawing", "id")
    kept, there, differ = map(int, psql(DIFFER.format(table=table, key=key)).split())
    return {"images": kept, "rows": there, "differ": differ}


def move_bytes(n, check):
    """0007 + 0008, timed; with ``check``, the sha256 of every image and input before and after, then back to 0006
    (timed, checked) and forward again."""
    out = {}
    if check:
        psql(KEEP_DIGESTS)
    out["move_s"], _ = manage("migrate", "--noinput")
    if check:
        out["sha_after_move"] = differing("moved")
        out["move_back_s"], _ = manage("migrate", "recognizer", "0006", "--noinput")
        out["sha_after_move_back"] = differing("back")
        out["move_again_s"], _ = manage("migrate", "--noinput")
        out["sha_after_move_again"] = differing("moved")
        psql("DROP TABLE bench_sha")
        print(f"   bytes checked: {out}", flush=True)
    return out


def sizes():
    """Bytes per drawing: the hot tables (drawing, predictions) and the bytes' table, each with its indexes."""
    hot = "pg_total_relation_size('recognizer_drawing') + pg_total_relation_size('recognizer_prediction')"
    return int(psql(f"SELECT {hot}").strip()), int(psql("SELECT pg_total_relation_size('recognizer_drawingimage')"))


def one_size(n, repeat, *, latest_fill=False, check_bytes=False):
    print(f"== {n:,} drawings", flush=True)
    fresh_database()
    result = {"n": n, "fill_schema": "latest" if latest_fill else "0005"}
    if latest_fill:  # the latest schema filled directly: no migration timed, nothing "before"
        manage("migrate", "--noinput")
        result["fill_s"] = round(fill(n, "scale_fill_latest.sql"), 1)
        print(f"   filled in {result['fill_s']:.0f} s", flush=True)
    else:
        migrate_to_0005()
        result["fill_s"] = round(fill(n, "scale_fill.sql"), 1)
        psql("VACUUM ANALYZE")
        result["before"] = {"explain": explain_all(skip_new=True), "indexes": indexes()}
        print(f"   filled in {result['fill_s']:.0f} s; migrating", flush=True)
        migrate, _ = manage("migrate", "lifecycle", "--noinput")  # recognizer to 0006: the answer columns
        result["migrate_s"] = round(migrate, 1)
        moved = move_bytes(n, check_bytes)
        result.update({k: round(v, 1) if isinstance(v, float) else v for k, v in moved.items()})
    refresh, refresh_out = manage("refresh_stats")
    t0 = time.perf_counter()
    psql("VACUUM ANALYZE")
    vacuum = time.perf_counter() - t0
    hot, images = sizes()
    rollup = psql(
        "SELECT (SELECT count(*) FROM recognizer_rollupdrawing) + (SELECT count(*) FROM recognizer_rollupprediction)"
        " + (SELECT count(*) FROM recognizer_rolluplabeled)"
    ).strip()
    print(f"   refresh_stats {refresh:.1f} s; timing requests", flush=True)
    result.update(
        {
            "refresh_s": round(refresh, 1),
            "refresh_out": refresh_out.strip(),
            "vacuum_s": round(vacuum, 1),
            "bytes_per_drawing": (hot + images) / n,
            "hot_bytes_per_drawing": hot / n,
            "image_bytes_per_drawing": images / n,
            "rollup_rows": rollup,
            "after": {"explain": explain_all(), "indexes": indexes()},
        }
    )
    result.update(time_requests(repeat))
    return result


def time_requests(repeat):
    out = subprocess.run(
        [PY, "-m", "bench.scale_requests", "--repeat", str(repeat), "--plans", PLANS],
        cwd=ROOT,
        env=django_env(),
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"bench.scale_requests failed:\n{out.stderr}")
    timings = json.loads(out.stdout)
    for name, t in timings["results"].items():
        print(f"   {name}: {t['ms']} ms {t['all']}", flush=True)
    return timings


def label(n):
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def write(runs):
    sizes = [r["n"] for r in runs]
    issue_cols = {10_000: 0, 100_000: 1, 1_000_000: 2}
    lines = [
        "# Staff pages at scale (issue 25)",
        "",
        "Written by `make bench-scale` (bench/scale.py). A scratch PostgreSQL database filled by SQL with the issue's "
        "mix (bench/scale_fill.sql: 90 % page, 8 % API, 1 % v2, 1 % TF Serving; 5 % staff labels, 2 % drawer "
        "feedback; 2 % disagreement; 90 days), migrated from 0005 to the latest, `refresh_stats`, VACUUM ANALYZE.",
        "",
        "**After**: each request in-process (Django's test client, a superuser's session: the view's SQL and "
        "rendering, no HTTP server), median of 3 after one warm-up, on this machine's 2 shared cores, so a few ms "
        "of noise at the small end and tens of ms at 1M. **Before**: the issue's figures (production gunicorn, same "
        "mix), which include ~1 ms of HTTP; the API's last page was `?page=N` then and is the cursor now.",
        "",
        "| request | " + " | ".join(f"before {label(n)} | after {label(n)}" for n in sizes) + " |",
        "|---|" + "---|---|" * len(sizes),
    ]
    names = list(runs[0]["results"])
    for name in names:
        cells = []
        for r in runs:
            before = BEFORE.get(name)
            col = issue_cols.get(r["n"])
            cells.append(f"{before[col]} ms" if before and col is not None else "—")
            cells.append(f"{r['results'][name]['ms']:,} ms")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if runs[-1].get("retimed"):
        lines += [
            "",
            f"The {label(runs[-1]['n'])} column was timed again on the same database after a change "
            "(`--retime`); the other columns are from the full run.",
        ]
    lines += ["", "| per size | " + " | ".join(label(n) for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for key, title in (
        ("fill_schema", "filled by SQL into the schema of"),
        ("fill_s", "fill by SQL (s)"),
        ("migrate_s", "migrate 0005 → 0006 (s): answer columns backfilled + indexes"),
        ("move_s", "migrate 0006 → 0008 (s): the bytes to their own table"),
        ("move_back_s", "and back to 0006 (s), then forward again (s)"),
        ("refresh_s", "`refresh_stats` (s)"),
        ("vacuum_s", "VACUUM ANALYZE (s)"),
        ("rollup_rows", "rollup rows"),
    ):
        cells = [str(r.get(key, "—")) for r in runs]
        if key == "move_back_s":
            cells = [f"{r['move_back_s']} / {r['move_again_s']}" if "move_back_s" in r else "—" for r in runs]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    for key, title in (
        ("bytes_per_drawing", "storage per drawing, all (tables + indexes)"),
        ("hot_bytes_per_drawing", "of which drawing + predictions (what counting and the lists read)"),
        ("image_bytes_per_drawing", "of which the bytes' table (image + 28×28 input)"),
    ):
        cells = [f"{r[key] / 1024:.2f} KB" if key in r else "—" for r in runs]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    checked = [r for r in runs if "sha_after_move" in r]
    if checked:
        lines += ["", "**The bytes lose nothing** (sha256 of every image and every 28×28 input before 0007, compared"]
        lines[-1] += " with where they are after each step; `differ` counts missing rows too):"
        lines += [""]
        for r in checked:
            for step in ("sha_after_move", "sha_after_move_back", "sha_after_move_again"):
                c = r[step]
                lines.append(
                    f"- {label(r['n'])}, {step.replace('_', ' ')}: {c['images']:,} drawings, "
                    f"{c['rows']:,} rows there, {c['differ']} differ"
                )
    lines += ["", *NOTES]
    big = max((r for r in runs if r.get("before")), key=lambda r: r["n"])
    lines += ["", f"## Indexes at {label(big['n'])}: before and after", "", "Before (0005):", "```"]
    lines += big["before"]["indexes"] + ["```", "After:", "```"] + big["after"]["indexes"] + ["```"]
    lines += ["", f"## EXPLAIN before and after, at {label(big['n'])}", ""]
    for name in EXPLAINS:
        lines += [f"### {name}", "", f"`{EXPLAINS[name]}`", ""]
        if name in big["before"]["explain"]:
            lines += ["Before:", "```", big["before"]["explain"][name], "```"]
        else:
            lines += ["Before: the column did not exist (the query was a subquery per row over the predictions)."]
        lines += ["After:", "```", big["after"]["explain"][name], "```", ""]
    lines += [
        f"## Plans of the slowest requests at {label(runs[-1]['n'])} (their slowest SELECT)",
        "",
        "Taken with `--plans-only` on the kept database (a second fill by the same SQL when the first was gone).",
        "",
    ]
    for name, plan in runs[-1]["plans"].items():
        lines += [
            f"### {name} ({plan.get('ms', '?')} ms)",
            "",
            "```sql",
            plan["sql"],
            "```",
            "```",
            plan["plan"],
            "```",
        ]
    OUT.write_text("\n".join(lines) + "\n")
    (OUT.with_suffix(".json")).write_text(json.dumps(runs, indent=1, default=str))
    print(f"wrote {OUT}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database of the last size.")
    parser.add_argument(
        "--latest-fill-from",
        type=int,
        default=5_000_000,
        help="Sizes from this one are filled straight into the latest schema (no migration timed): at 10M the "
        "migrations' rewrites need more disk than this machine has.",
    )
    parser.add_argument(
        "--check-bytes-up-to",
        type=int,
        default=100_000,
        help="Up to this size, the sha256 of every image and input is checked after the bytes move, back and again.",
    )
    parser.add_argument("--add", action="store_true", help="Keep the other sizes of bench/SCALE.json in SCALE.md.")
    parser.add_argument(
        "--retime",
        action="store_true",
        help="Only time the requests again on the kept database (the last size of bench/SCALE.json) and rewrite "
        "SCALE.md with those figures; everything else as the last full run measured it.",
    )
    parser.add_argument("--rewrite", action="store_true", help="Only write SCALE.md again from bench/SCALE.json.")
    parser.add_argument(
        "--plans-only",
        action="store_true",
        help="Only take the slowest requests' plans on the kept database (rebuilt the same way) into SCALE.json.",
    )
    args = parser.parse_args()
    if args.rewrite:
        write(json.loads(OUT.with_suffix(".json").read_text()))
        return
    if args.plans_only:
        runs = json.loads(OUT.with_suffix(".json").read_text())
        psql("VACUUM ANALYZE")
        runs[-1]["plans"] = time_requests(args.repeat)["plans"]
        write(runs)
        return
    if args.retime:
        runs = json.loads(OUT.with_suffix(".json").read_text())
        psql("VACUUM ANALYZE")
        runs[-1]["after"]["indexes"] = indexes()
        runs[-1].update(time_requests(args.repeat))
        runs[-1]["retimed"] = True
        write(runs)
        return
    runs = [
        one_size(
            int(n),
            args.repeat,
            latest_fill=int(n) >= args.latest_fill_from,
            check_bytes=int(n) <= args.check_bytes_up_to,
        )
        for n in args.sizes.split(",")
    ]
    if args.add:  # beside the sizes measured earlier (bench/SCALE.json), replacing those measured again
        done = {r["n"] for r in runs}
        runs = sorted(
            [r for r in json.loads(OUT.with_suffix(".json").read_text()) if r["n"] not in done] + runs,
            key=lambda r: r["n"],
        )
    write(runs)
    if not args.keep:
        psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", "postgres")


if __name__ == "__main__":
    main()
