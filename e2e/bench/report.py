"""The benchmark's outputs: performance.md (the report), performance.json, performance.png."""

import json
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("uvicorn", "uvloop", "httptools", "fastapi", "starlette", "pydantic", "pyreqwest")
PACKAGES += ("aiohttp", "aiosonic", "httpx", "boto3", "moto", "prometheus-client")

METHOD = """\
## How it is measured

- The process runtime of `task local-up` (moto, Terraform's `local` root, both services
  started from the rendered `overlays/local` manifests), one uvicorn worker per service,
  uvloop and httptools, JSON access log and metrics on, in a temporary state directory.
- Case 1 is `e2e/bench/ceiling.py`, a FastAPI app returning a constant, served by the same
  `kontaxa_common.server.serve` as the services. Case 5 is a second aux-service process
  started with the same command and env plus `PARAMETER_CACHE_TTL_SECONDS=0`.
- wrk (one thread, its own process; C, so it takes little of the two cores from the servers
  it measures) drives each case for a fixed time at a fixed number of connections, after an
  unmeasured warm-up and a pause in which the servers finish the requests wrk left in flight
  (`SETTLE_SECONDS` in `e2e/bench/run.py`). Latency percentiles are wrk's; errors are its
  connect, read, write and timeout errors plus non-2xx replies.
- The cases run in rounds, each case once per round, so a ratio compares figures taken side
  by side; each ratio is the median of its per-round values (range in brackets). Absolute
  figures vary with whatever else the shared machine runs; the ratios are the result.
- main-api and the ceiling run on CPU 0, aux-service (both copies) on CPU 1; wrk and the
  emulator are not pinned (`BENCH_PIN=0` leaves placement to the scheduler).
- Cases `6-<client>` are case 6 against a copy of main-api (same command and env, pinned
  like main-api) whose client for aux-service is another library (`e2e/bench/candidates.py`:
  aiohttp, aiosonic, httpx with its default transport); main-api's own is pyreqwest. Case
  `6-unfrozen` is such a copy with main-api's own client, served without the garbage
  collector's freeze after start-up (see "The tail" below); case `6-normal` one whose
  threads run under the default CPU scheduling policy (point 11 below); case `6-replaced`
  one with the hand-written client pyreqwest replaced, read from git history (point 7).
- Knobs: `BENCH_DURATION`, `BENCH_WARMUP`, `BENCH_ROUNDS`, `BENCH_CONNECTIONS`, `BENCH_OUT`,
  `BENCH_STACK`, `BENCH_PIN`, `BENCH_CLIENTS` (or the options of the same name:
  `task bench -- --rounds 3`); their defaults are in `e2e/bench/run.py`.
- SSM calls in case 6 are read from aux-service's metrics port (`/metrics`)
  (`upstream_request_duration_seconds_count{upstream="aws",operation="GetParameter"}`)
  before and after each measured window.
"""

BRINGUP_FINDINGS = """\
Where `terraform apply` of the local root spends its time (`TF_LOG=trace`, moto fresh):

- Terraform starts the AWS provider (a 700 MB binary) four times per apply: to read its
  schema, for the validate walk, for the plan walk and for the apply walk. Only the first
  start serves the schema: Terraform 1.11 keeps it in a global cache for the later ones
  (the trace: "Schema for provider ... is in the global cache", "returning cached schema").
  With `GOGC=off` and `GOMEMLIMIT=400MiB` an apply took 19.5 s of CPU instead of 29.6 (two
  runs each; peak memory 0.86 GB instead of 0.58), so the runner sets both for Terraform.
- Each of the three walks validates the provider's configuration, and with an `endpoints`
  block that took the provider about 2 s of CPU per walk: in the trace, the
  plugin-framework half of the provider stops for 2.0 to 2.3 s between two attribute
  checks of `PrepareProviderConfig`, in every walk. A one-resource root with a single
  endpoint planned in 7.3 and 7.8 s (6.4 and 6.6 s of CPU) against 3.3 s (2.4 s of CPU)
  without the block. The local root now has none: the runner names the emulator in
  `AWS_ENDPOINT_URL`, the AWS SDKs' standard variable, which the provider reads for every
  service (the Terraform tests of the aws root against moto relied on it already).
  `local-up`'s apply took 16.1 and 17.5 s without the block against 24.2 and 26.7 s with
  it, alternating in one run.
- The provider's own waits were most of the apply walk: `aws_vpc` sleeps a fixed 10 s after
  enabling DNS hostnames before it checks the attribute (`waitVPCAttributeUpdatedV2`,
  `Delay: 10 * time.Second`); `aws_kms_key` reads rotation and then tags back until it has
  seen each five times in a row a second apart (`waitTagsPropagated`,
  `ContinuousTargetOccurence: 5`; about 4 s each); the bucket's lifecycle rule about a minute.
  The cluster needs the VPC and the key, the OIDC provider the cluster, the IRSA roles the
  OIDC provider. In one apply (timestamps of Terraform's output) the apply walk took 12.1 s:
  the VPC 10.7 s of it, the KMS key 8.8 s beside it, then subnets, cluster, OIDC provider and
  roles 1.5 s. These waits are the same whatever the machine's speed, and nothing on the
  emulator needs the four settings (moto stores them, but no node resolves names there, no
  key rotates and nothing expires). The runner now sets `skip_provider_waits`, which leaves
  them off. Every other resource and setting is the same:
  `test_the_runners_setting_changes_only_the_four_it_names` plans from the full apply to the
  runner's setting; the Terraform tests apply the full settings and check them, and the aws
  root has no such variable.
  Bring-ups before and after, alternating in one run on 2026-12-03 (a warm clone each, after
  one that filled the cache): 22.2 and 20.9 s (apply 19.2 and 18.3 s) against 12.9 and
  11.8 s (apply 10.0 and 9.3 s).
- `terraform init` (1.4 s of CPU) ran on every bring-up; its working directory now lives in
  the cache that local-down keeps, and init runs only when the root, the modules or the CLI
  configuration changed (a digest says so).
- moto's first call to a service builds that service's backend, and the plan walk makes two
  such calls one after the other on its path: `iam:GetUser` when the provider is configured
  (`allowed_account_ids` needs it, which keeps this root off real accounts) took 1.1 s
  (`TF_LOG=debug`; 1.4 to 1.8 s cold from boto3, with the AWS managed policies loaded), and
  `ec2:DescribeAvailabilityZones` for the EKS subnets 2.8 s (2.5 to 2.8 s from boto3). The
  runner now makes both calls itself while Terraform starts its providers
  (`kontaxa_local.terraform.warm`): applies of the root to a fresh moto took 16.4, 18.4 and
  18.7 s with it against 19.2, 19.3 and 19.6 s without, alternating in one run (before the
  endpoints block went: 29.7 and 29.8 s against 34.8 and 31.6 s).
- What does not matter here: refresh (a fresh state has nothing to refresh: "no state, so
  not refreshing"), `-parallelism` (30 against the default 10, five bring-ups each,
  alternating in one run on 2026-12-03: 11.8 to 13.4 s against 11.7 to 13.6 s), the account
  check on a warm moto (0.02 s), moto's other calls (about 250, most under 0.1 s each, spread
  over the walks). The update check (`checkpoint-api.hashicorp.com`) is off
  (`CHECKPOINT_DISABLE=1`): the runner calls no host but the emulator.
- One provider process for all four walks is not possible: started once in its `-debug`
  mode and attached with `TF_REATTACH_PROVIDERS`, a `terraform plan` of the applied root took
  11.7 s against 14.5 s, but the next command on the same process failed in the provider's
  configure ("unable to add custom RootCAs HTTPClient"), which each plan and apply walk
  calls: the provider is built to be configured once per process. Two processes started
  ahead, one for `terraform plan -out` and one for `terraform apply` of that plan, gain
  nothing: the process is up in under a second and the cost is in serving the schema, which
  each command asks for again (the plan's process spent 7.9 s of CPU; the whole apply took
  29.1 s against 30.4 s for a plain apply in the same run).
- Where an apply goes now (one `TF_LOG=trace` apply on 2026-12-03, 10.7 s from start to
  exit): 0.8 s before the first walk, in which Terraform reads the cached provider package
  (the 700 MB binary; `strace` counts its reads) to check it against the lock file's hash,
  on every command; 2.7 s to
  start the provider and read its schema; 0.8 s the validate walk; 1.3 s the plan walk; 5.5 s
  the apply walk. The apply walk has two chains of about the same length: VPC, subnets,
  cluster, OIDC provider, roles and their policies (1 s after the walk starts to 4.4 s), and
  the demo bucket (created, then read back with about 15 calls one after the other) and its
  versioning (the provider waits a second before it reads the status back; 1.8 to 5.4 s).
- Overlapped since 2026-12-03 (`ProcessRuntime._emulator_and_terraform`): Terraform starts
  as soon as the emulator is spawned, not once it is ready, since its first seconds (provider
  checksum, schema, validate walk) call no emulator; a thread waits for the emulator, and
  when the emulator fails (its process exits, or it is not ready in time) Terraform is
  killed (`run_command`'s `cancel`) and the emulator's failure is raised
  (`test_an_emulator_that_dies_while_terraform_starts_stops_terraform`). The overlay is
  rendered during the apply. The warming now also makes the first call to every other
  service the root uses (STS, S3, Secrets Manager, SSM, EKS, KMS, CloudWatch Logs, ECR: 0.02
  to 0.15 s each on a fresh moto, one after the other on the apply walk's path before), once
  the emulator answers; a test fails when a module gains a resource of a service not warmed.
  The machine is busy through the first five seconds of a bring-up (both cores at 100 %
  by `/proc/stat` every half second: Terraform, moto starting, the warming), so neither change
  alone showed a gain: four variants alternating, eight bring-ups each, 2026-12-03 17:25 UTC,
  medians (ranges): before 12.1 s (10.2 to 15.2), warming every service 12.4 s (10.4 to
  14.7), overlap 12.0 s (10.5 to 27.6), both 10.9 s (10.0 to 13.8); an earlier run of
  three variants (before, overlap, both), 12 or 13 bring-ups each, gave 13.4, 13.3 and
  12.2 s. Each step still prints its own seconds; the total is less than their sum.
- Left: the services' start (about 2 s) is mostly importing FastAPI, pydantic and boto3 on
  two busy cores (0.9 s for aux-service alone on an idle machine); the demo bucket's
  versioning waits about 1.3 s at the end of the apply walk (a second's `Delay`, then three
  reads in a row), a compliance setting the runner keeps.
"""

FINDINGS = """\
## What was changed for speed, and where the rest goes

Profiled with py-spy on the running services and `cProfile` on the apps called in-process;
CPU per request read from `/proc/<pid>/stat` over a wrk run. Figures from before the changes
are single wrk runs on the same machine, so approximate.

1. Start: 2/1 about 0.35, 4/1 0.14, 6/1 0.10; case 6 p50 35 ms.
2. Dependencies `async def`. FastAPI ran each plain `def` dependency in the thread pool: a
   thread hop and a GIL hand-off per dependency per request. 4/1 0.14 to 0.39; case 6 p50
   35 to 14 ms.
3. Routes flat on the app (`include_router` nests, and FastAPI 0.165 walks every level per
   request); routers built from the app's parts, so a data route runs one dependency (the
   credential check, itself the OpenAPI security scheme) instead of five to seven. App time
   of an aux-service cached read 211 to 123 µs, of `/version` 106 to 84 µs.
4. Metric children looked up once; the access log without the caller lookup or thread and
   process names, written in batches (a line waits at most 0.1 s; warnings and errors go at
   once); request IDs from `os.urandom`; the routes that carry traffic matched first.
   2/1 0.57 to between 0.64 and 0.66. Then one JSON encoder for all lines (`json.dumps`
   with `default=` builds one per call): aux-service `/version` 155 to 144 µs of CPU.
5. The benchmark pins main-api and the ceiling to CPU 0 and aux-service to CPU 1: case 6
   no longer runs at one of two speeds (about 1,200 or 2,450 requests/s) depending on where
   the scheduler put the two services.
6. main-api's client for aux-service: aiohttp's work was a third of main-api's time per
   cached read (143 µs per call in a sequential loop against aux-service); a GET-only pool of
   keep-alive connections read by httptools (`main_api/clients/http.py`, 28 µs per call)
   keeps the same retries, timeouts and error mapping. Case 6 from 2,755 to about 3,950
   requests/s (6/1 0.24 to 0.37 and 0.38 in two runs; a third, while the machine was busier,
   gave 0.27, with every run's rounds within a few per cent of each other), case 3 from 3,438
   to about 5,000.
7. That client was replaced (issue 15): owning an HTTP/1.1 parser meant owning its faults
   (1xx replies taken as final, unbounded heads and bodies, no deadline on a full pool). The
   candidates are measured side by side in cases `6-<client>` above against main-api with
   pyreqwest (reqwest and hyper, in Rust), which passes the fault catalogue
   (`services/main-api/tests/test_client_faults.py`). The replacement costs case 6 about a
   quarter of its throughput: case `6-replaced` serves today's main-api with the replaced
   client (read from git history at `19b8638^`, so the project does not keep it), and in the
   full run of 2026-12-04 01:05 UTC it gave 6/1 0.40 (0.35 to 0.43) against pyreqwest's 0.28,
   aiosonic's 0.28 and aiohttp's 0.27. Two selection runs before it agree (2026-12-03, ratios
   of medians): 6 rounds, replaced 0.38, pyreqwest 0.28, aiosonic 0.22; 5 rounds, replaced
   0.38, pyreqwest 0.28, aiohttp 0.28, and aiohttp with cookies, decompression and proxy
   lookups off 0.29. An earlier comparison here (the whole of `0bec3fa` run with its own
   `task bench`: 0.31 and 0.29) measured an older main-api, not the client alone, and its
   conclusion that pyreqwest matched the replaced client was wrong.
   Why: under case 6's load pyreqwest's work does not stay cheap. On a `task local-up`
   stack (main-api on CPU 0, aux-service on CPU 1, wrk 8 s, CPU per thread from `/proc`),
   main-api spent 286 µs per request on the event loop's thread and 83 µs on pyreqwest's
   runtime thread, which shares main-api's core; `perf` on that thread put a quarter of its
   samples in the kernel's task switch: each call hands the request to the runtime thread
   and the reply back through the GIL and `call_soon_threadsafe`, two switches on a busy
   core. The figures that suggested otherwise (pyreqwest 25 µs per call against 28 for the
   replaced client, issue 15) come from a client alone in a loop, where nothing else waits
   for the core. Point 11 takes part of that handoff cost away; the rest is still there.
   One more family measured once, in a selection run (2026-12-04 02:45 UTC, 2 rounds, not
   kept as a candidate): curl_cffi 0.17 (libcurl on the event loop through its socket API),
   its `AsyncSession` 1,522 requests/s and its `AsyncCurl` handles driven directly 1,321,
   against pyreqwest's 2,135 and the replaced client's 3,103 in the same rounds.
   Two more clients on reqwest or its fork, candidates `pyqwest` and `rnet` (not installed
   with the project; a selection run adds them: `uv run --with pyqwest==0.12.0 --with
   rnet==2.4.2 python e2e/bench/run.py --cases 1,6,6-pyqwest,6-rnet,6-replaced,6-aiohttp
   --clients pyqwest,rnet,replaced,aiohttp --rounds 4 --out /tmp/selection`), 2026-12-05
   05:55 UTC, medians of 4 rounds, requests/s and CPU µs per request: pyreqwest 2,934 and
   527, the replaced client 3,104 and 518, rnet 2,829 and 544, pyqwest 2,663 and 578,
   aiohttp 2,502 and 628 (the ceiling 8,792). Both run their own Rust runtime thread, as
   pyreqwest does, and pay the same handoff; neither does better. httpr was not measured:
   its `AsyncClient` runs its blocking client in a thread pool.
8. The two costs named below as standing in the way (issue 18), both taken away:
   both services' credential checks (aux-service's service token, main-api's API key) run
   in the ASGI layer in front of each data route (`kontaxa_common.middleware.CredentialGuard`,
   wired by `web.require_credentials`), not as FastAPI dependencies; FastAPI still derives
   the OpenAPI security from the scheme, so `/openapi.json` byte for byte and every response
   (authorized; missing, wrong and empty credentials; none loaded; 404, 405, 400, 500) equal
   snapshots written from the dependency versions
   (`services/aux-service/tests/test_auth_unchanged.py`, and main-api's of the same name).
   The access line is written without `logging` (`kontaxa_common.logs.AccessLog`): the
   same line from the same JSON formatter and redaction, queued on the same batching
   handler (`services/common/tests/test_logs.py`).
9. FastAPI's native OpenTelemetry off in both apps (`kontaxa_common.web.app_options`): on
   every request it asked the global tracer, meter and logger providers whether one was
   configured, and none ever is (no OpenTelemetry SDK ships; the services' telemetry is the
   Prometheus metrics and the access line). aux-service's `/version` through its ASGI app,
   in-process, 12 alternating rounds of 5,000 requests: 176 µs with it off against 191 µs
   with FastAPI's default (medians; the default slower in 10 of 12 rounds).
10. What a cached read did beyond `/version`, taken away in three places (py-spy on a
   running aux-service under wrk, then `cProfile` of the app in-process; in-process, 12
   rounds of 2,000 requests, a cached read took 77 to 78 µs against 55 for `/version` and
   35 for the ceiling):
   - FastAPI solved the route's one path parameter on every request: its four parameter
     kinds walked, the name validated by pydantic, about 8 µs of the 77. The parameter
     routes of both services now read `{name}` from `request.path_params` (the string the
     router matched, which the services' own name rule validates anyway), and the
     parameter is in the schema only (`kontaxa_common.web.document_path_parameters`, the
     same way as the credential scheme): `/openapi.json` is byte for byte what it was.
   - The redaction of the access line walked all of its eleven fields for each line; a
     flat line is now searched once, its strings joined (a secret in a field is in the
     join, so none is missed), and walked only when a secret is found.
   - The name rules (two regular expressions and the segment checks, about 2 µs) are
     remembered for the last 1,024 valid names.
   In two runs one after the other (`task bench -- --cases 1,2,4,6 --rounds 4`, 2026-12-02
   13:02 and 13:05 UTC, this change then the commit before it): a cached read 119 µs of CPU
   against 142, 4/1 0.67 against 0.56, case 6 4,025 requests/s against 3,819 (6/1 0.32
   against 0.30).
11. The handoff between main-api's two threads (point 7), made cheaper: the HTTP services'
   threads (and the ceiling's, served the same way; not secrets-provider's, a gRPC server of
   its own) run under Linux's SCHED_BATCH policy (`kontaxa_common.server.schedule_in_batches`,
   `CPU_BATCH_SCHEDULING`, default on). Under the default policy a woken thread preempts the
   one running on its CPU, so on main-api's core the event loop and pyreqwest's runtime
   thread preempted each other at every handoff; a SCHED_BATCH thread that wakes waits for
   the running one's time slice to end, so each runs its ready work in one go. Case
   `6-normal` above is main-api under the default policy, side by side.
   - In a selection run (`task bench -- --cases 1,6,6-normal,6-replaced --clients
     normal,replaced --rounds 5`, 2026-12-04 03:11 UTC, with CPU per thread and context
     switches read from `/proc/<pid>/task` around each window): main-api switched 2.0 to
     2.8 times per request against 5.7 to 6.3 under the default policy; pyreqwest's thread
     used 48 to 56 µs per request against 78 to 117. Case 6 served 1.13 times case
     6-normal (0.91 to 1.41 over the rounds) and 0.85 of case 6-replaced (0.77 to 1.15).
     The full run above agrees on the medians of its per-round ratios, with wider rounds:
     1.13 (0.99 to 1.57) and 0.81 (0.52 to 1.13). Before the policy, pyreqwest's case 6 was
     about 0.70 of the replaced client's.
   - For a server with one thread the policy changes little. Side by side (4 rounds, copies
     of the ceiling and of aux-service with it off): the ceiling 8,480 against 8,084
     requests/s, aux-service `/version` 5,516 against 5,414, a cached read 4,917 against
     4,696, each within its rounds' spread; 2/1 0.65 and 4/1 0.58 under the policy, 0.67
     and 0.58 without. So the ceiling, served as the services are, runs under it too.
   - It asks nothing a process may not do: lowering its own policy needs no capability, and
     containerd's default seccomp profile allows `sched_setscheduler`
     (`contrib/seccomp/seccomp_default.go` in each release read: v1.7.0, v1.7.29, v2.0.0
     and v2.1.1, the kind node image's; a test trips on a new node image). The container
     tier checks every thread of both images under Docker's default profile with all
     capabilities dropped (`tests/containers/test_run.py`). Refused, a service logs one
     warning and its threads keep the policy they started with; off, the default policy is
     set.
   - The price, not measured here (no case shares main-api's core with another process): on
     a CPU busy with other processes' work, a woken thread waits for the running one's
     slice, about one slice per runnable task ahead of it, at each handoff.

Measured and not kept: changes to how responses are written.
- A response's head and body in one write. uvicorn writes them in two `transport.write`
  calls, and py-spy on main-api under case 6 put 10 % of its samples in those two calls. A
  wrapper of the connection's transport that held a head announcing its length until the
  body's write and sent both in one `writelines` took the ceiling from 3.0 to 2.0 system
  calls per request (`strace -c` under wrk: one `writev` for two `write`), but not its CPU
  per request: copies of the ceiling with and without it, side by side in 8 alternating
  rounds (2026-12-04 14:57 UTC), used 132 to 159 µs against 116 to 159 µs (commit
  `7c7ba67`, reverted, with the report of `39fcc80` that credited it with the gain below).
- Every write deferred to the end of the event loop's turn. This one is large: the ceiling
  used 76 to 87 µs of CPU per request against 116 to 129 µs, and served 11,460 to 13,088
  requests/s against 7,710 to 8,563 (6 alternating rounds, 2026-12-04 15:10 UTC); in a run
  on copies of one stack, aux-service `/version` 111 to 132 µs against 139 to 195, case 6
  406 to 531 µs against 485 to 554 (both services). The system calls per request are the
  same (one write, one read). The cause is the load generator's wake-ups: wrk, on the other
  core, slept and was woken 0.99 times per request when each response went out as it was
  made, and 0.065 times when the turn's responses went out together; waking a sleeping
  task on another CPU (in this VM, an inter-processor interrupt, a VM exit) is charged to
  the process that wakes it, here the server. So it is a gain where callers share the host
  (a sidecar proxy, a node-local client, main-api and aux-service on one node), not for a
  remote caller, and its price is latency: a response made early in a turn waits for the
  turn's other work (under case 1's load, up to about 32 requests). The ceiling gains the
  most, so 2/1 and 6/1 fall (0.70 against 0.74 and 0.29 against 0.34 in that run). Not kept:
  the trade and the ratios' meaning are the owner's to choose.

### The tail of cases 3 and 6: full garbage collections, now frozen out

Before, main-api's p99 was 3 to 4.4 times its p50 in cases 3 and 6 (aux-service's 1.2 to
1.6). The cause is CPython's full (generation 2) collections in main-api:

- Evidence, on a running stack under case 6's load (wrk, 32 connections, 10 s windows), with
  a `gc.callbacks` hook timing every collection in main-api: 7 full collections per window,
  each walking the about 62,000 objects built at start-up (modules, the app, its routes,
  pydantic schemas), 60 to 85 ms each, with the event loop stopped; every request in flight
  waits them out. p99 83 to 89 ms against p50 27 to 30 ms. The young collections (about 75
  per second, under 7 ms each, 3 % of the time) are not the tail.
- Why they run: with 32 requests in flight for 30 ms each, their objects outlive two young
  collections and reach the oldest generation, and CPython runs a full collection when that
  generation has grown by a quarter since the last one. An earlier look (in-process, one
  request at a time) saw no collection at all, because nothing stayed alive long enough.
- What it was not: the scheduler. main-api's event-loop thread waits on the run queue about
  10 % of the time in cases 3 and 6 (`/proc/<pid>/task/<tid>/schedstat`, about 1,800
  involuntary switches per second, as the two cores carry both services, wrk and
  pyreqwest's thread) against none for aux-service alone; a copy with aiohttp on the event
  loop's thread had no run-queue wait at all and the same tail.
- The fix (`kontaxa_common.server.build_frozen`, both services): once the app is built,
  `gc.collect()` then `gc.freeze()` move everything alive into the permanent generation,
  which no collection walks. Under the same load, full collections then took 2 to 3 ms,
  and p99 was 47 to 55 ms against p50 29 to 32 ms. Objects allocated later are collected
  as before (`services/common/tests/test_server.py`).
- Side by side in this report: case `6-unfrozen` is the same main-api served without the
  freeze; compare its p99 / p50 with case 6's in the ratios above. Its throughput there is
  no measure of the freeze: in a full run it always comes last in its round, after the
  light case 6-httpx. Alternating the order (`task bench -- --cases 6,6-unfrozen --rounds
  6`, 2026-12-01 20:01 UTC, medians): case 6 1,075 requests/s, p99 / p50 1.48, 1,464 µs of
  CPU per request; 6-unfrozen 876 requests/s, 3.15, 1,769 µs. The full collections cost
  CPU as well as the tail.

Where the remaining time goes, per request (CPU time, this machine):

- aux-service `/version` cost about 1.45 times the ceiling before point 8: the JSON access
  line through `logging` (a service copy logging at WARNING used 30 µs less per request:
  the `LogRecord`, the handlers, the formatter), the middleware's own work (request ID,
  headers, two metric updates) and the larger body with `meta`.
- A cached read (about 190 µs against 144) added FastAPI's solving of its one dependency
  and its path parameter, 22 % of the request (the credential check itself 3.5 %; FastAPI
  parses query string and cookies for each dependency; FastAPI 0.115 costs the same share,
  measured), then name validation and the cache lookup (4 %) and the larger response.
  Point 8 removed the dependency, point 10 the path parameter's solving.
- main-api on case 6 saturates its core while aux-service uses about two thirds of its own.
  Of main-api's time, FastAPI's request and response plumbing is about half (solving the
  one dependency alone 15 %), writing the reply 14 %, the aux-service call 14 %, the access
  log 8 %, validating and serialising the response 6 %.

After points 8 and 9, 2/1 and 4/1 sat around their targets, on either side by turns: three
full runs (2026-12-01 22:31 UTC, then 2026-12-02 10:24 and 10:37 UTC) gave 2/1 0.68, 0.70
and 0.74 and 4/1 0.55, 0.60 and 0.50, rounds spreading over 0.1 to 0.3 within each run.
Point 10 put 4/1 above its target: 0.70 in the full run of 2026-12-02 13:13 UTC (rounds
0.59 to 0.75), 0.67 in the selection run before it. They still move with the machine: the
full run of 2026-12-04 01:05 UTC gave 2/1 0.73 and 4/1 0.64, the one of 02:55 UTC 0.68 and
0.54 (its rounds 0.59 to 0.75 and 0.40 to 0.69, load average 2.0 after it), and the one of
11:12 UTC, on an idle machine (load average 0.0 before it) and with the server's pipelining
and upgrade limits in, 0.74 and 0.63 (rounds 0.65 to 0.81 and 0.50 to 0.87); point 11's
policy is not the cause (side by side there, the same ratios under either policy). The run
of 2026-12-05 05:25 UTC (load average 0.3 before it) gave 0.73 and 0.599, 4/1's rounds 0.56
to 0.68. What is left per request is uvicorn's and
Starlette's, FastAPI's request handling (its dependency solving, which runs for a route
without parameters too; four reads of OpenTelemetry's context a request, telemetry off or
not), and the middleware's request ID, headers, two metric updates and access line.

Why case 6 stays below 0.40 of the ceiling: the ceiling is one FastAPI hop that returns a
constant; case 6 is two hops and a client call, and with the services pinned a core each,
main-api's core (its event loop and pyreqwest's runtime thread) sets the pace. 6/1 was 0.36
(the median of the rounds' ratios, 0.22 to 0.38) in the full run of 2026-12-04 02:55 UTC
and 0.35 (0.25 to 0.40) in the one of 11:12 UTC, and 0.30 (0.23 to 0.36) in the one of
2026-12-05 05:25 UTC, where the replaced client gave 0.39 (0.34 to 0.42); the run before
point 11, 2026-12-04 01:05 UTC, gave 0.28, but between runs the machine moves these ratios
as much (6-normal, the policy off, gave 0.24 in the 02:55 run), so the side-by-side ratios
of point 11 are the measure of the change. For 0.40, main-api would have to spend at most
2.5 times the ceiling's time per request. What stands in the way is still the client
(points 7 and 11): in the same runs the same main-api with the replaced hand-written client
reached 0.42 and 0.37, and side by side pyreqwest served 0.81 to 0.85 of its requests
(02:55) and 0.85, 0.70 to 1.00 over the rounds (11:12: the two equal in two rounds,
pyreqwest behind in three, as the machine moved case 6 between about 3,000 and 2,000
requests/s). The rest of main-api's time is the same FastAPI and middleware work as
aux-service's, plus validating aux-service's reply and serialising its own: called in
process (uvicorn's proxy-headers layer and the app, no sockets, aux-service's reply
canned), a cached read through main-api took 91 to 105 µs of CPU against the ceiling's 36
to 48 (6 alternating rounds of 5,000, 2026-12-05), so even a client that cost nothing would
leave main-api's app at 2.5 times the ceiling's.
"""


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine_description() -> dict[str, Any]:
    """CPU, memory, OS, interpreter and the versions of what is measured."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    memory = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)', os_release, re.M)
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    wrk_version = _run(["wrk", "--version"]).splitlines()
    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "os": pretty.group(1) if pretty else platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version[0].split(" [")[0] if wrk_version else "absent",
        "packages": versions,
        "load_before": os.getloadavg(),
    }


def _at_commit(results: dict[str, Any]) -> str:
    """The text `, at commit <id>` for results that name the working tree they measured
    (older ones do not; `-dirty`: it had uncommitted changes)."""
    commit = results.get("commit")
    return f", at commit `{commit}`" if commit else ""


def _markdown(results: dict[str, Any], chart: str) -> str:
    machine = results["machine"]
    settings = results["settings"]
    lines = [
        "# Performance: services against a ceiling, side by side",
        "",
        f"Generated by `{results['command']}` (`e2e/bench/run.py`) on {results['generated']}"
        f"{_at_commit(results)}.",
        "Regenerate it with the same command; it rewrites this file, `performance.json` and "
        "`performance.png`.",
        "",
        "## Machine",
        "",
        f"- {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"{machine['os']}, kernel {machine['kernel']}; shared with other work, so absolute "
        "figures are noisy (load average "
        + ", ".join(f"{x:.1f}" for x in machine["load_before"])
        + " before, "
        + ", ".join(f"{x:.1f}" for x in results["load_after"])
        + " after).",
        f"- Python {machine['python']}, {machine['wrk']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
        + ".",
        f"- {settings['connections']} connections, {settings['duration_s']:g} s measured after "
        f"{settings['warmup_s']:g} s of warm-up and {settings.get('settle_s', 0):g} s of pause "
        f"per case, {settings['rounds']} rounds, "
        f"wrk with {settings['wrk_threads']} thread, {settings['uvicorn_workers']} uvicorn "
        "worker per service.",
        "",
        "## Cases (medians over the rounds)",
        "",
        "| # | case | requests/s | p50 ms | p99 ms | errors / requests | CPU µs/request |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, case in results["cases"].items():
        lines.append(
            f"| {key} | {case['title']} | {case['rps']:,.0f} | {case['p50_ms']:.2f} | "
            f"{case['p99_ms']:.2f} | {case['errors']} / {case['requests']:,} | "
            f"{case['cpu_us']:.0f} |"
        )
    lines += [
        "",
        "CPU µs/request: user and system time of the serving processes (main-api and",
        "aux-service together for cases 3, 6 and 7; not wrk, not the emulator) per request.",
    ]
    lines += [
        "",
        "## Ratios",
        "",
        "| ratio | measured (range over rounds) | target | |",
        "|---|---:|---:|---|",
    ]
    names = {
        "2/1": "2/1 aux-service /version to ceiling",
        "4/1": "4/1 warm cache hit to ceiling",
        "6/4": "6/4 cost of the main-api hop",
        "6/1": "6/1 end to end to ceiling (main-api's client: pyreqwest)",
        "3 p99/p50": "case 3 p99 / p50",
        "6 p99/p50": "case 6 p99 / p50",
    }
    for key, case in results["cases"].items():
        if key.startswith("6-"):
            names[f"{key}/1"] = f"{key}/1 {case['title']} to ceiling"
            names[f"{key} p99/p50"] = f"{key} p99 / p50"
    for name, ratio in results["ratios"].items():
        target = ""
        if ratio["target"] is not None:
            target = ("≥ " if ratio["kind"] == "min" else "≤ ") + f"{ratio['target']:.2f}"
        # Three places where two would show a median equal to its target, met or missed.
        places = 3 if target and round(ratio["median"], 2) == ratio["target"] else 2
        lines.append(
            f"| {names[name]} | {ratio['median']:.{places}f} ({ratio['min']:.2f} to "
            f"{ratio['max']:.2f}) | {target} | {ratio['verdict']} |"
        )
    cpu = results["cpu_ratios"]
    lines += [
        "",
        "In CPU time per request (ceiling's over the case's; the work itself, which the",
        "machine's other load disturbs less): "
        + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items())
        + ". For 6/1 two processes share the work on two cores, so its throughput ratio can",
        "exceed its CPU ratio.",
    ]
    ssm = results["ssm_case6"]
    lines += [
        "",
        f"SSM calls in case 6: {ssm['calls']:.0f} GetParameter calls for "
        f"{ssm['requests']:,} requests of one name, {ssm['per_1000']:.3f} per 1,000 requests. "
        f"The bound (one call per name per TTL of {ssm['ttl_seconds']:g} s, plus one per "
        f"measured window) allows {ssm['allowed_calls']:.1f} calls, "
        f"{ssm['allowed_per_1000']:.3f} per 1,000: {ssm['verdict']}.",
        "",
        f"![requests/s and p99 per case]({chart})",
        "",
        *_bringup_markdown(results.get("bringup")),
        METHOD,
        FINDINGS,
    ]
    return "\n".join(lines)


def _bringup_markdown(bringup: dict[str, Any] | None) -> list[str]:
    """The bring-up section: `local-up` from a warm clone, per step, medians and ranges."""
    if bringup is None:
        return []

    def cell(spread: dict[str, float]) -> str:
        return f"{spread['median']:.1f} ({spread['min']:.1f} to {spread['max']:.1f})"

    total = bringup["total_s"]
    lines = [
        "## Bring-up (task local-up, process runtime, warm clone)",
        "",
        f"Measured on {bringup['generated']}{_at_commit(bringup)} "
        "(`task bench -- --cases bringup`), "
        f"{bringup['rounds']} rounds after one that fills the cache; load average "
        + ", ".join(f"{x:.1f}" for x in bringup["load_before"])
        + " before, "
        + ", ".join(f"{x:.1f}" for x in bringup["load_after"])
        + " after. Seconds as the runner prints them, median (range over the rounds). The"
        " emulator's start and the overlay's rendering run beside the apply (below), so the"
        " total is less than the sum of the steps.",
        "",
        "| step | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {step} | {cell(spread)} |" for step, spread in bringup["steps_s"].items()]
    lines += [
        f"| **up, in total** | **{cell(total)}** |",
        "",
        f"Target: at most {bringup['target_s']:g} s (median): {bringup['verdict']}.",
        "",
        BRINGUP_FINDINGS,
    ]
    return lines


def _chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = results["cases"]
    labels = [f"{key}. {case['title']}" for key, case in cases.items()][::-1]
    rps = [case["rps"] for case in cases.values()][::-1]
    p50 = [case["p50_ms"] for case in cases.values()][::-1]
    p99 = [case["p99_ms"] for case in cases.values()][::-1]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    bars = left.barh(labels, rps, color="#3b6ea5")
    left.bar_label(bars, labels=[f"{x:,.0f}" for x in rps], padding=3, fontsize=8)
    left.set_xlabel("requests/s (higher is better)")
    left.margins(x=0.18)
    positions = range(len(labels))
    right.barh([p + 0.2 for p in positions], p99, height=0.4, color="#c0504d", label="p99")
    right.barh([p - 0.2 for p in positions], p50, height=0.4, color="#f2a65a", label="p50")
    right.set_xlabel("latency, ms (lower is better)")
    right.legend(loc="lower right")
    settings = results["settings"]
    figure.suptitle(
        f"Kontaxa services, {settings['connections']} connections, medians of "
        f"{settings['rounds']} rounds ({results['generated']})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    """Write performance.json, performance.png and performance.md into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path, md_path = (out / f"performance.{ext}" for ext in ("json", "png", "md"))
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    _chart(results, png_path)
    md_path.write_text(_markdown(results, png_path.name) + "\n")
    return [md_path, json_path, png_path]
