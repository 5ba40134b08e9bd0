"""`task bench`: how fast the services are, as ratios measured side by side in one run.

Brings up the process runtime (moto, Terraform, both services as processes from the
rendered manifests, one uvicorn worker each), starts two more processes beside it (the
ceiling app and an aux-service copy with its cache off), then drives each case with wrk for
a fixed duration at a fixed concurrency after an unmeasured warm-up. The cases run in
rounds, one after the other in every round, so each ratio compares figures taken minutes
apart at most; the report gives each ratio's median over the rounds.

Cases (issue 10): 1 ceiling (minimal FastAPI app returning a constant, same server
settings); 2 aux-service /version; 3 main-api /version; 4 aux-service /parameters/{name}
warm; 5 the same with the cache off; 6 main-api /parameters/{name} end to end (warm);
7 main-api /buckets end to end. Cases 6-<client>: case 6 against a copy of main-api whose
client for aux-service is another library (e2e/bench/candidates.py), side by side with
main-api's own (pyreqwest), so the client choice is a measured one, and case 6-replaced
against the hand-written client pyreqwest replaced (from git history); case 6-unfrozen: a copy
served without the garbage collector's freeze after start-up, so its effect on the tail is
measured beside case 6; case 6-normal: a copy whose threads run under the default CPU
scheduling policy instead of SCHED_BATCH, so the policy's effect is measured beside case 6.

Why wrk: written in C, one thread drives thousands of requests per second for a few per
cent of a core, so on two shared cores the load generator takes the least it can from the
servers it measures; it runs as its own process, and Debian ships it.

Knobs, each an environment variable with a default (or the option of the same name):
| BENCH_DURATION | 5 | measured seconds per case and round |
| BENCH_WARMUP | 1 | unmeasured seconds before each measurement |
| BENCH_ROUNDS | 5 | rounds over all cases |
| BENCH_CONNECTIONS | 32 | concurrent connections (the targets are set at 32) |
| BENCH_OUT | docs | where performance.md, .json and .png are written |
| BENCH_STACK | (a temporary directory) | state directory of a process-runtime stack to use and
  keep (e.g. `.local` of `task local-up`: restart it after changing the services' code) |
| BENCH_PIN | 1 | 1: main-api and the ceiling on CPU 0, aux-service on CPU 1 (see below); 0: leave
  placement to the scheduler |
| BENCH_CLIENTS | aiohttp,aiosonic,httpx,replaced,unfrozen,normal | the copies of main-api
  measured in case 6 (comma-separated names from e2e/bench/candidates.py; empty for none) |
| BENCH_CASES | all | `all`, `throughput` (cases 1 to 7) or `bringup` (the bring-up case alone; the
  report keeps the throughput figures of performance.json), or a selection of cases by key (e.g.
  `3,6` or `6,6-httpx`): measured and printed with each case's medians, every other round in
  reverse order, and no report written |

The bring-up case (issue 18) times `local-up` on the process runtime from a warm clone: one
unmeasured bring-up fills the cache (Terraform's working directory, which local-down keeps),
then each round brings a stack up from nothing but that cache and takes it down, recording
the runner's own per-step seconds; the report gives the medians with their ranges.

Why pin: two services that call each other wake each other thousands of times a second, and
Linux then tends to keep both on one CPU (wake-affine placement), so on two cores case 6 ran
at either of two speeds, one half the other, by chance. Pinned, each hop has its own core as
the targets assume ("two Python hops on two cores"); wrk and the emulator are not pinned.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kontaxa_e2e.load import Copy, aws_calls, component_pid, spawn_copy
from kontaxa_e2e.targets import ProcessTarget
from kontaxa_local.version import working_tree_revision

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parents[1]
sys.path.insert(0, str(BENCH_DIR))

from candidates import OWN_CLIENT, REPLACED, TRANSPORTS, replaced_source, title  # noqa: E402
from report import machine_description, write_report  # noqa: E402

PARAMETER = "welcome-message"  # a String parameter Terraform puts under the prefix
# wrk stops with a request in flight on each connection, and the servers finish them. A
# measured window started at once shared the warm-up's last requests: in case 5 their 32
# GetParameter calls still held aux-service's 32 AWS slots, so the window's first requests
# got 503 aws_busy (7 to 107 per round). The slowest replies of cases 5 and 7 took 0.4 to
# 0.6 s; only 6-httpx has slower ones (up to 1.7 s), which overlap its own window alone.
SETTLE_SECONDS = 1.0
TARGETS = {  # ratio: (minimum or maximum, bound); issue 18's
    "2/1": ("min", 0.72),
    "4/1": ("min", 0.60),
    "6/4": ("info", None),
    "6/1": ("min", 0.40),
    "3 p99/p50": ("max", 2.5),
    "6 p99/p50": ("max", 2.5),
}


@dataclass
class Case:
    """One benchmark case: what is requested, with which headers."""

    key: str
    title: str
    url: str
    headers: dict[str, str]
    servers: list[int]  # PIDs of the service processes that serve it


def env_default(name: str, default: str) -> str:
    """The knob's value from the environment, or its default."""
    return os.environ.get(name, default)


def parse_args() -> argparse.Namespace:
    """Options; each defaults to its environment variable."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=float(env_default("BENCH_DURATION", "5")))
    parser.add_argument("--warmup", type=float, default=float(env_default("BENCH_WARMUP", "1")))
    parser.add_argument("--rounds", type=int, default=int(env_default("BENCH_ROUNDS", "5")))
    parser.add_argument(
        "--connections", type=int, default=int(env_default("BENCH_CONNECTIONS", "32"))
    )
    parser.add_argument("--out", type=Path, default=Path(env_default("BENCH_OUT", "docs")))
    parser.add_argument("--stack", type=Path, default=os.environ.get("BENCH_STACK") or None)
    parser.add_argument("--pin", type=int, default=int(env_default("BENCH_PIN", "1")))
    parser.add_argument(
        "--clients",
        default=env_default("BENCH_CLIENTS", "aiohttp,aiosonic,httpx,replaced,unfrozen,normal"),
    )
    parser.add_argument("--cases", default=env_default("BENCH_CASES", "all"))
    args = parser.parse_args()
    unknown = [name for name in args.clients.split(",") if name and name not in CLIENTS]
    if unknown:
        parser.error(f"--clients: names from {', '.join(CLIENTS)} (not {', '.join(unknown)})")
    args.selection = selection(args.cases, parser)
    return args


CLIENTS = (*TRANSPORTS, *OWN_CLIENT)  # the copies of main-api that candidates.py serves
CASE_KEYS = ("1", "2", "3", "4", "5", "6", "7", *(f"6-{name}" for name in CLIENTS))


def selection(cases: str, parser: argparse.ArgumentParser) -> list[str] | None:
    """The case keys `--cases` selects, or None for `all`, `throughput` and `bringup`."""
    if cases in ("all", "throughput", "bringup"):
        return None
    keys = [key.strip() for key in cases.split(",") if key.strip()]
    unknown = [key for key in keys if key not in CASE_KEYS]
    if not keys or unknown:
        parser.error(
            f"--cases: all, throughput, bringup or keys from {', '.join(CASE_KEYS)} (not {cases!r})"
        )
    return keys


BRINGUP_TARGET_S = 12.0  # local-up from a warm clone, median (issue 18)


def commands_cpu_seconds() -> float:
    """User and system CPU of the finished commands this process ran and their children
    (Terraform with its provider, kubectl): what a busier machine cannot inflate."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bring_up(rounds: int) -> dict[str, Any]:
    """`local-up` of the process runtime, timed per step, from a warm cache, `rounds` times."""
    from kontaxa_local.executor import Executor
    from kontaxa_local.process_runtime import ProcessRuntime
    from kontaxa_local.settings import Settings

    started, commit = time.time(), working_tree_revision(REPO_ROOT)  # what is measured
    load_before = os.getloadavg()
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kontaxa-bench-up-") as temporary:
        settings = Settings(
            runtime="process",
            state_dir=Path(temporary),
            ports={"main-api": 0, "aux-service": 0, "emulator": 0},
        )
        for number in range(rounds + 1):  # the first one only warms the cache
            runtime = ProcessRuntime(settings, Executor())
            clock, cpu = time.monotonic(), commands_cpu_seconds()
            try:
                runtime.up()
                total = time.monotonic() - clock
                cpu = commands_cpu_seconds() - cpu
            finally:
                runtime.down()
            if number == 0:
                print(f"bench: bring-up warm-up {total:.1f}s (fills the cache)", flush=True)
                continue
            measured.append(
                {"total_s": total, "commands_cpu_s": cpu, "steps_s": dict(runtime.step_seconds)}
            )
            steps = ", ".join(f"{k} {v:.1f}" for k, v in runtime.step_seconds.items())
            print(
                f"bench: bring-up round {number}/{rounds}: {total:.1f}s ({steps}; "
                f"commands' CPU {cpu:.1f}s)",
                flush=True,
            )

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    total = spread([r["total_s"] for r in measured])
    return {
        "commands_cpu_s": spread([r["commands_cpu_s"] for r in measured]),
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "commit": commit,
        "rounds": rounds,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "total_s": total,
        "steps_s": {
            step: spread([r["steps_s"].get(step, 0.0) for r in measured])
            for step in measured[0]["steps_s"]
        },
        "target_s": BRINGUP_TARGET_S,
        "verdict": "met" if total["median"] <= BRINGUP_TARGET_S else "missed",
        "measured": measured,
    }


def wrk(case: Case, seconds: float, connections: int) -> dict[str, Any]:
    """Run wrk against `case` for `seconds`; its counts and percentiles."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    command += ["--latency", "-s", str(BENCH_DIR / "wrk_report.lua")]
    for key, value in case.headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run(
        [*command, case.url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH_JSON "))
    raw: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    seconds_measured = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds_measured,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "raw": raw,
    }


def pin(pid: int, cpus: set[int]) -> None:
    """Restrict every thread of process `pid` to `cpus`."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes `pids` have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def check(case: Case) -> None:
    """Fail early unless the case answers 200 once."""
    response = httpx.get(case.url, headers=case.headers, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"case {case.key} ({case.url}) answered {response.status_code}")


def ratios_of(round_results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The issue's ratios within one round, and case 6's with each other client."""
    rps = {key: result["rps"] for key, result in round_results.items()}
    case3, case6 = round_results["3"], round_results["6"]
    ratios = {
        "2/1": rps["2"] / rps["1"],
        "4/1": rps["4"] / rps["1"],
        "6/4": rps["6"] / rps["4"],
        "6/1": rps["6"] / rps["1"],
        "3 p99/p50": case3["p99_ms"] / case3["p50_ms"],
        "6 p99/p50": case6["p99_ms"] / case6["p50_ms"],
    }
    for key, result in round_results.items():
        if key.startswith("6-"):
            ratios[f"{key}/1"] = rps[key] / rps["1"]
            ratios[f"{key} p99/p50"] = result["p99_ms"] / result["p50_ms"]
    return ratios


def target_of(name: str) -> tuple[str, float | None]:
    """(min, max or info; bound) of a ratio: the issue's, or none for a compared client."""
    return TARGETS.get(name, ("info", None))


def verdict(name: str, value: float) -> str:
    """met / missed against the issue's target, or '' when it has none."""
    kind, bound = target_of(name)
    if bound is None:
        return ""
    ok = value >= bound if kind == "min" else value <= bound
    return "met" if ok else "missed"


def median_of(case: Case, rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """A case's medians over the rounds (p99/p50 is the median of the per-round ratios)."""
    results = [r[case.key] for r in rounds]
    return {
        "title": case.title,
        "rps": statistics.median(r["rps"] for r in results),
        "p50_ms": statistics.median(r["p50_ms"] for r in results),
        "p99_ms": statistics.median(r["p99_ms"] for r in results),
        "p99_p50": statistics.median(r["p99_ms"] / r["p50_ms"] for r in results),
        "cpu_us": statistics.median(r["cpu_us"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "requests": sum(r["requests"] for r in results),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Bring the stack up, measure every case in rounds, take everything down."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (task bench does it)")
    started, commit = time.time(), working_tree_revision(REPO_ROOT)  # what is measured
    machine = machine_description()
    with tempfile.TemporaryDirectory(prefix="kontaxa-bench-") as temporary:
        state_dir = args.stack.resolve() if args.stack else Path(temporary)
        print(f"bench: process runtime in {state_dir} (up in about 75 s, mostly Terraform)")
        # No local Prometheus: its scrapes and rule evaluations would share the two cores.
        target = ProcessTarget(state_dir, with_monitoring=False)
        copies: list[Copy] = []
        try:
            runtime = target.runtime
            print("bench: starting the ceiling app and an aux-service with its cache off")
            ceiling = spawn_copy(
                runtime,
                "aux-service",
                name="bench-ceiling",
                command=[sys.executable, str(BENCH_DIR / "ceiling.py")],
                ready_path="/",
            )
            copies.append(ceiling)
            cold = spawn_copy(
                runtime,
                "aux-service",
                name="bench-aux-cache-off",
                env={"PARAMETER_CACHE_TTL_SECONDS": "0"},
            )
            copies.append(cold)
            clients = [name for name in args.clients.split(",") if name]
            if args.selection is not None:
                clients = [name for name in clients if f"6-{name}" in args.selection]
            if REPLACED in clients and replaced_source() is None:
                print(f"bench: case 6-{REPLACED} skipped: no such client in this clone's history")
                clients.remove(REPLACED)
            candidates = {}
            for client in clients:
                print(f"bench: starting a main-api copy for {title(client)}")
                candidates[client] = spawn_copy(
                    runtime,
                    "main-api",
                    name=f"bench-main-api-{client}",
                    command=[sys.executable, str(BENCH_DIR / "candidates.py")],
                    env={"BENCH_CLIENT": client},
                )
                copies.append(candidates[client])
            pinned = {
                component_pid(runtime, "main-api"): {0},
                ceiling.pid: {0},
                component_pid(runtime, "aux-service"): {1},
                cold.pid: {1},
                **{copy.pid: {0} for copy in candidates.values()},
            }
            if args.pin and (os.cpu_count() or 1) >= 2:
                for pid, cpus in pinned.items():
                    pin(pid, cpus)
            token = {"X-Service-Token": target.service_token()}
            key = {"Authorization": f"Bearer {target.api_key()}"}
            ttl = float(
                target.config_values("aux-service").get("PARAMETER_CACHE_TTL_SECONDS", "30")
            )
            main, aux = component_pid(runtime, "main-api"), component_pid(runtime, "aux-service")
            cases = [
                Case("1", "ceiling: minimal FastAPI app", ceiling.url + "/", {}, [ceiling.pid]),
                Case("2", "aux-service /version", target.aux_url + "/version", {}, [aux]),
                Case("3", "main-api /version", target.main_url + "/version", {}, [main, aux]),
                Case(
                    "4",
                    "aux-service /parameters/{name}, warm cache",
                    f"{target.aux_url}/parameters/{PARAMETER}",
                    token,
                    [aux],
                ),
                Case(
                    "5",
                    "aux-service /parameters/{name}, cache off",
                    f"{cold.url}/parameters/{PARAMETER}",
                    token,
                    [cold.pid],
                ),
                Case(
                    "6",
                    "main-api /parameters/{name}, end to end, warm",
                    f"{target.main_url}/parameters/{PARAMETER}",
                    key,
                    [main, aux],
                ),
                Case(
                    "7",
                    "main-api /buckets, end to end",
                    target.main_url + "/buckets",
                    key,
                    [main, aux],
                ),
            ]
            for client, copy in candidates.items():
                cases.append(
                    Case(
                        f"6-{client}",
                        title(client),
                        f"{copy.url}/parameters/{PARAMETER}",
                        key,
                        [copy.pid, aux],
                    )
                )
            if args.selection is not None:
                cases = [case for case in cases if case.key in args.selection]
            for case in cases:
                check(case)
            aux_metrics = target.aux_metrics_url
            assert aux_metrics, "the process target knows aux-service's metrics port"
            rounds: list[dict[str, dict[str, Any]]] = []
            ssm = {"calls": 0.0, "requests": 0, "windows": 0, "window_seconds": 0.0}
            for number in range(args.rounds):
                results: dict[str, dict[str, Any]] = {}
                # A selection is compared side by side: A B, then B A, so neither case
                # always runs first after the other's load.
                reverse = args.selection is not None and number % 2 == 1
                for case in reversed(cases) if reverse else cases:
                    wrk(case, args.warmup, args.connections)
                    time.sleep(SETTLE_SECONDS)
                    before = aws_calls(aux_metrics, "GetParameter") if case.key == "6" else 0
                    window = time.monotonic()
                    cpu_before = cpu_seconds(case.servers)
                    results[case.key] = wrk(case, args.duration, args.connections)
                    results[case.key]["cpu_us"] = (
                        1e6
                        * (cpu_seconds(case.servers) - cpu_before)
                        / max(results[case.key]["requests"], 1)
                    )
                    if case.key == "6":
                        ssm["calls"] += aws_calls(aux_metrics, "GetParameter") - before
                        ssm["requests"] += results["6"]["requests"]
                        ssm["windows"] += 1
                        ssm["window_seconds"] += time.monotonic() - window
                    result = results[case.key]
                    print(
                        f"round {number + 1}/{args.rounds} case {case.key}: "
                        f"{result['rps']:8.0f} req/s  p50 {result['p50_ms']:7.2f} ms  "
                        f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}",
                        flush=True,
                    )
                rounds.append(results)
        finally:
            for copy in copies:
                copy.stop()
            if args.stack:  # the stack stays up: give its processes every CPU back
                for name in ("main-api", "aux-service"):
                    pin(component_pid(runtime, name), set(range(os.cpu_count() or 1)))
            else:
                target.close()
    if args.selection is not None:
        return {"selection": {case.key: median_of(case, rounds) for case in cases}}
    per_round = [ratios_of(r) for r in rounds]
    # The same comparisons in CPU time per request of the serving processes: the work each
    # request costs, which the machine's other load disturbs much less than throughput.
    cpu_ratios = {
        name: statistics.median(r["1"]["cpu_us"] / r[case]["cpu_us"] for r in rounds)
        for name, case in (("2/1", "2"), ("4/1", "4"), ("6/1", "6"))
    }
    ratios = {
        name: {
            "median": statistics.median(r[name] for r in per_round),
            "min": min(r[name] for r in per_round),
            "max": max(r[name] for r in per_round),
            "target": target_of(name)[1],
            "kind": target_of(name)[0],
        }
        for name in per_round[0]
    }
    for name, ratio in ratios.items():
        ratio["verdict"] = verdict(name, ratio["median"])
    summary = {case.key: median_of(case, rounds) for case in cases}
    # One name is read in case 6: the cache may load it at most once per TTL, plus once when a
    # window starts with the entry expired.
    allowed = ssm["windows"] + ssm["window_seconds"] / ttl
    ssm.update(
        per_1000=1000 * ssm["calls"] / max(ssm["requests"], 1),
        allowed_calls=allowed,
        allowed_per_1000=1000 * allowed / max(ssm["requests"], 1),
        ttl_seconds=ttl,
        names=1,
        verdict="met" if ssm["calls"] <= allowed else "missed",
    )
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "commit": commit,
        "command": "task bench",
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "settle_s": SETTLE_SECONDS,
            "rounds": args.rounds,
            "connections": args.connections,
            "wrk_threads": 1,
            "uvicorn_workers": 1,
            "pinned": bool(args.pin),
            "clients": clients,
        },
        "machine": machine,
        "load_after": os.getloadavg(),
        "cases": summary,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "ssm_case6": ssm,
        "rounds": rounds,
    }


def main() -> None:
    """Measure and write the report."""
    args = parse_args()
    out = args.out if args.out.is_absolute() else REPO_ROOT / args.out
    if args.cases == "bringup":  # keep the last throughput figures beside the new bring-up
        results = json.loads((out / "performance.json").read_text())
    else:
        results = run(args)
        if "selection" in results:
            for key, case in results["selection"].items():
                print(
                    f"case {key:10} {case['rps']:8.0f} req/s  p50 {case['p50_ms']:7.2f} ms  "
                    f"p99 {case['p99_ms']:7.2f} ms  p99/p50 {case['p99_p50']:5.2f}  "
                    f"CPU {case['cpu_us']:6.0f} us/request  (medians of {args.rounds} rounds)"
                )
            print("bench: a selection of cases; no report written")
            return
        for name, ratio in results["ratios"].items():
            print(f"{name:10} {ratio['median']:6.2f}  {ratio['verdict']}")
        ssm = results["ssm_case6"]
        print(f"SSM calls per 1,000 requests in case 6: {ssm['per_1000']:.3f} ({ssm['verdict']})")
    if args.cases in ("all", "bringup"):
        results["bringup"] = bring_up(args.rounds)
        up = results["bringup"]["total_s"]
        print(f"bring-up   {up['median']:6.1f}s  {results['bringup']['verdict']}")
    paths = write_report(results, out)
    print("bench: wrote " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
