/**
 * The prose of docs/benchmarks.md around the generated tables: what is run, how, and how to read
 * it. Figures never appear here; they come from bench/results/*.json.
 */
const intro = `sidemesh measured against real peers (nginx, haproxy from Debian) on one machine, over loopback
only. Every figure below is written by \`npm run bench\` (\`bench/run.ts\`) from the newest run of each
scenario in \`bench/results/\`: the machine, the tool versions and every repeat are in those JSON files.

\`\`\`sh
npm run bench                      # every scenario, ~5–8 minutes; installs nginx-light, haproxy, dnsperf when root
node bench/run.ts http latency     # only some: http latency cost memlimit tcp dns discover admission
node bench/run.ts --quick          # smoke run: one short repeat per subject
node bench/run.ts --priority       # children at nice -10 (root): less noise from other work on a shared machine
node bench/run.ts --docs-only      # regenerate this page and benchmarks.svg from bench/results/
\`\`\`

**Read every figure with its machine.** These runs are made on a small (2-core) machine that other
work shares. A proxy, its load generator and its upstream compete for the same two cores, and
another process can take a core away for tens of milliseconds. The harness counters this as far as
it can: all subjects of a scenario run in the same invocation, interleaved (A B C A B C …), each
repeated and reported as the median; processes are pinned with \`taskset\`; and the **ratios** between
subjects (sidecar vs nginx, vs haproxy, added latency over direct) are what the targets judge, not the
absolute numbers. Tail latencies (p99, max) are the most exposed to the noise: a scheduling stall
on a shared core shows up there first, for every subject alike. The load average when each scenario
started is printed with it, and so is the **steal** over the scenario: the share of CPU time the
hypervisor gave to other guests (/proc/stat). Stolen time stalls every process on that vCPU at once,
so a scenario with a few percent of steal has longer tails for reasons outside this machine.`;

const method = `## Method

| # | scenario | subjects | load | what is reported |
|---|---|---|---|---|
| 1 | HTTP throughput, one hop | direct, nginx (1 worker, upstream keepalive), haproxy (\`nbthread 1\`, http mode), a plain Node.js byte relay (the floor of a Node.js proxy, for reference), sidecar outbound listener | autocannon, 50 keep-alive connections, closed loop, separate process | req/s, ratio to nginx, p50/p99, proxy CPU per 1000 requests, peak RSS |
| 2 | added latency, two hops | direct; nginx → nginx; haproxy → haproxy; two plain Node.js byte relays (the floor of a Node.js proxy, for reference); client sidecar → server sidecar inbound → app | \`bench/lib/open-loop.ts\`: 1000 req/s, 10 connections, open loop | p50/p90/p99 from the *intended* send time, latency **added** over direct (medians over repeats), ratio to what nginx adds |
| 3 | cost | the sidecar(s) of scenarios 1 and 2, and the byte relays beside them for reference | — | CPU s per 1000 requests (= vCPU per 1000 req/s) from \`/proc/<pid>/stat\`, peak RSS (\`VmHWM\`) |
| 3b | memory limit | the sidecar in a memory cgroup of its own (cgroup v1, root), started from a fresh copy of the node binary so it is charged for the binary's pages: no limit, the webhook's default limit, Rainbond's 64Mi | autocannon as in 1 | req/s and its ratio to no limit, peak charge, limit hits, major faults, OOM kills |
| 4 | TCP | direct, haproxy (tcp), nginx (stream), sidecar outbound TCP listener | \`bench/lib/tcp-tools.ts\`: bulk 1 GiB to a sink; connect + 1-byte echo + close in 16 loops | MiB/s, connections/s, ratios to haproxy, CPU per GiB and per 1000 connections |
| 5 | discover at scale | one discover process, 1,000 Services, 10,000 endpoints, 2,000 workloads | 5,000 parked long-polls from another process (undici) | change → every affected poller has the new document: p50/p99/max; CPU per change; RSS |
| 6 | DNS | \`sidemesh dns\` (the responder the sidecar hosts); a raw-dgram stub as a reference | dnsperf (UDP): peak, and \`-Q 10000\` with per-query latencies | qps; p50/p99 at 10,000 qps; mesh names and forwarded names (warm cache, stub upstream on loopback) |
| 7 | admission | \`sidemesh admission --self-signed\` over HTTPS; a Node.js HTTPS server with the same TLS that answers without any webhook work (the floor, for reference) | autocannon (peak), open loop at 1000/s (latency) | reviews/s, p99, CPU, RSS |

Each scenario starts its own upstream (nginx \`return 200 "ok"\` with one worker, a Node.js sink/echo
server for TCP, a stub resolver for DNS), the subjects and the load generator as child processes,
with configs written to a temp dir; nginx and haproxy run in the foreground (\`daemon off\`, \`-db\`) and
everything is killed at the end of the scenario (or when the harness is interrupted). Every load is
bounded in time and count. The sidecar runs as \`sidemesh sidecar\` in its own process, fed a
hand-built document (\`lib/contract.ts\`) by a small fake discover in the harness; its outbound
listeners bind VIPs in \`127.128.0.0/16\`.

**Pinning.** The subject (proxy, responder, discover, webhook) runs on CPU 0, the load generator on
CPU 1. In scenario 1 the upstream nginx shares CPU 1 with autocannon, so "direct" is the ceiling of
the set-up, not nginx's speed. In scenario 2 the open-loop generator busy-waits on CPU 1 (for
sub-millisecond send accuracy), so the app and both hops share CPU 0.

**Coordinated omission.** Closed-loop tools (autocannon, wrk) send the next request only after the
previous answer, so a stall delays the requests that would have seen it and the tail looks better
than it is (perf-anchors §2, wrk2). Peak throughput is measured closed loop (that is what closed
loop is good for); every latency target is measured **open loop** at a fixed rate, with latency
counted from when each request was due, in an HdrHistogram. The generator also records how late it
sent; a late generator is flagged under the table. It keeps its own overhead small on purpose: a
plain keep-alive HTTP/1.1 client (\`bench/lib/h1-pool.ts\`: one pre-built request, framing read from
Content-Length, nothing else parsed) instead of undici, whose per-request garbage made the generator's
own GC pause ~2 ms every ~100 ms. Against the same do-nothing HTTPS server that moved the
generator's send lateness p99 from 2.8–3.7 ms to 0.18–0.28 ms and the measured p99 from 4.7–9.5 ms
to 0.6–1.2 ms: before that change, most of every p99 here was the generator's.

**Steady state.** V8 compiles a sidecar's hot path with TurboFan only after tens of thousands of
requests; at 1000 req/s that takes ~15 s, and each compile burst (up to ~0.3 s of CPU on a
background thread) shares CPU 0 with every hop, delaying requests by up to ~40 ms while it runs.
So before its repeats every subject of scenario 2 gets 5 s of closed-loop load, and the figures are
steady state. What a freshly started sidecar pair does is one extra row, "cold start", measured before
that warm-up and not judged against a target.`;

const reading = `## How to read the tables

- **× nginx / × haproxy** — the subject's figure divided by the peer's, both from the same run. This is
  what the targets judge: on a noisy machine the ratio is far more stable than either number.
- **added p50 / p99** — the subject's percentile minus the direct path's, both medians over the
  repeats of the same run (a negative value means the difference drowned in the noise). A
  mesh always adds two hops (the caller's sidecar and the callee's), so the comparison is two nginx
  hops against two sidecars. The added p99 is the difference of two p99s of about a millisecond, so
  the machine's own stalls weigh on it: nginx's added p99 was 255 and 265 µs in two runs an hour
  apart, then 63 and 119 µs in two runs ten minutes apart (18:00 and 18:10), which put haproxy at
  10.2× and 3.0× nginx and the sidecars at 4.7× and 1.55×; at 19:07 and 19:17, 429 and 117 µs put
  the sidecars at 0.88× and 1.89× (with the earlier undici-based generator nginx's ranged
  142–591 µs in one afternoon). Read the p99 ratio across runs, not from one.
- **CPU s / 1000 req** — CPU time (user + system) the proxy process(es) used during the run, per
  1000 requests served; numerically the same as *vCPU per 1000 req/s*. In scenario 1 the proxy is
  saturated, so fixed costs are amortised; at 1000 req/s (scenario 2) it is what a typical pod pays.
- **peak RSS** — \`VmHWM\` of the largest process of the subject. For the node processes it includes
  ~49 MiB of the node binary's own pages, page cache that every sidecar on a node shares; the
  anonymous part ("anon RSS" columns) is what a container memory limit has to hold (docs/admission.md).
- **reference rows** — "node byte relay" (scenarios 1, 2 and 3) and "Node.js HTTPS echo" (scenario 7) do
  none of the work (no parsing, no routing, no injection): they show what any Node.js process pays on
  this machine, in the same run, before doing anything useful. The byte relay
  (\`bench/lib/node-relay.ts\`) copies bytes through the sidecar's own relay code (recycled read
  buffers) with nothing else loaded, stripped to JS as the images run the sidecar. No target judges them; a sidemesh
  figure close to its reference row is at the floor of the runtime, not held up by sidemesh's code.
- **not available: …** — the subject could not be measured in that run and why (a missing Debian
  package, a part of sidemesh not built yet, a start-up failure). The run still completes.
- **met / missed** — the target compared with the median figure. A miss on a busy machine is a
  reason to rerun (\`--priority\` helps when other work shares the machine) before it is a reason to
  optimise; a miss that repeats on a quiet machine is a bug. What was found behind each miss so far,
  and what was tried and measured, is in docs/sidecar.md ("Performance notes", "Memory").
- The chart (\`benchmarks.svg\`) shows the headroom against each target on a log scale: measured /
  target for "at least" targets, target / measured for "at most" targets; right of the line is met.`;

export const DOC_TEXT = { intro, method, reading };
