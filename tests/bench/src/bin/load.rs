//! The load generator of `make soak` and `make bench-overload`: HTTP/1.1 keep-alive requests
//! at a fixed rate (open loop), or as fast as answers come back (closed loop).
//!
//! wrk only knows the closed loop: each connection sends its next request when the previous
//! answer arrives, so a slow server is sent less and its latency looks better than a client
//! at a fixed rate would see it. Here, in the open loop, request `k` is due at `k / rate`
//! seconds after the start whatever happened before; a due request waits for a free
//! connection when all are busy, and its latency counts from when it was due (wrk2's
//! correction of coordinated omission). `lag` reports that wait, so a generator that falls
//! behind shows itself.
//!
//! Several scenarios share the connections, each with its rate (in the closed loop, its
//! share), interleaved evenly. Every `--interval` seconds one JSON line per scenario goes to
//! stdout with what completed in that interval; at the end one line per scenario for the
//! whole run (`"final": true`); `connects` counts the connections opened so far (a server
//! that closes connections shows there). Every request carries `X-Seq: k` (k counts from 0), so a
//! backend can tell which stored messages it was delivered.
//!
//! Usage: `load --target 127.0.0.1:PORT --duration SECONDS --connections N [--interval 10]
//! [--timeout 10] [--closed] --scenario NAME,RATE,PATH,BODY_FILE[,CONTENT_TYPE]...`
//!
//! One thread (a current-thread runtime): the harness pins it beside the backend.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

type Error = Box<dyn std::error::Error + Send + Sync>;

// === impl Args ===

struct Scenario {
    name: String,
    rate: f64,
    path: String,
    body: Bytes,
    content_type: HeaderValue,
}

struct Args {
    target: SocketAddr,
    duration: Duration,
    interval: Duration,
    timeout: Duration,
    connections: usize,
    closed: bool,
    scenarios: Vec<Scenario>,
}

impl Args {
    fn parse() -> Result<Self, Error> {
        let mut target = None;
        let mut duration = None;
        let mut interval = Duration::from_secs(10);
        let mut timeout = Duration::from_secs(10);
        let mut connections = 64;
        let mut closed = false;
        let mut scenarios = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--closed" {
                closed = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--target" => target = Some(value.parse()?),
                "--duration" => duration = Some(seconds(&value)?),
                "--interval" => interval = seconds(&value)?,
                "--timeout" => timeout = seconds(&value)?,
                "--connections" => connections = value.parse()?,
                "--scenario" => scenarios.push(scenario(&value)?),
                _ => return Err(format!("unknown flag {flag}").into()),
            }
        }
        if scenarios.is_empty() || scenarios.iter().all(|s| s.rate <= 0.0) {
            return Err("at least one --scenario with a rate above 0".into());
        }
        Ok(Self {
            target: target.ok_or("--target is required")?,
            duration: duration.ok_or("--duration is required")?,
            interval,
            timeout,
            connections: connections.max(1),
            closed,
            scenarios,
        })
    }
}

fn seconds(value: &str) -> Result<Duration, Error> {
    Ok(Duration::from_secs_f64(value.parse()?))
}

fn scenario(spec: &str) -> Result<Scenario, Error> {
    let parts: Vec<&str> = spec.splitn(5, ',').collect();
    let [name, rate, path, file, rest @ ..] = parts.as_slice() else {
        return Err(format!("--scenario {spec:?}: NAME,RATE,PATH,BODY_FILE[,CONTENT_TYPE]").into());
    };
    let content_type = rest.first().copied().unwrap_or("application/json");
    Ok(Scenario {
        name: (*name).to_string(),
        rate: rate.parse()?,
        path: (*path).to_string(),
        body: Bytes::from(std::fs::read(file).map_err(|e| format!("{file}: {e}"))?),
        content_type: HeaderValue::from_str(content_type)?,
    })
}

/// Scenario indices in the order requests go out: smooth weighted round-robin over the
/// rates, so each scenario's requests are spread evenly and in their exact proportions.
fn pattern(scenarios: &[Scenario]) -> Vec<usize> {
    let total: f64 = scenarios.iter().map(|s| s.rate.max(0.0)).sum();
    let len = 10_000;
    let mut current = vec![0.0; scenarios.len()];
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let mut best = 0;
        for (i, s) in scenarios.iter().enumerate() {
            current[i] += s.rate.max(0.0);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best);
    }
    out
}

// === impl Histogram ===

/// Latencies in microseconds, exact below 1,024 µs and within 0.2 % above (512 buckets per
/// power of two), so percentiles of millions of requests cost a fixed 12,000 counters.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

const EXACT: u64 = 1024;
const SUB: u64 = 512;

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; (EXACT + 23 * SUB) as usize],
            n: 0,
            max: 0,
        }
    }

    fn index(us: u64) -> usize {
        let us = us.min(u64::from(u32::MAX));
        if us < EXACT {
            return us as usize;
        }
        let high = 63 - u64::from(us.leading_zeros()); // >= 10
        let shift = high - 9;
        let top = us >> shift; // 512..1024
        (EXACT + (high - 10) * SUB + (top - SUB)) as usize
    }

    fn value(index: usize) -> u64 {
        let i = index as u64;
        if i < EXACT {
            return i;
        }
        let j = i - EXACT;
        let shift = j / SUB + 1;
        let top = j % SUB + SUB;
        (top << shift) + (1 << shift) / 2
    }

    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(us)] += 1;
        self.n += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
    }

    /// The `q` quantile in milliseconds (0 when empty).
    fn ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }
}

// === impl Stats ===

/// What completed for one scenario.
#[derive(Clone)]
struct Stats {
    /// 2xx answers.
    ok: u64,
    /// 503 answers (the runtime's overload answer, among others).
    unavailable: u64,
    /// Other statuses: 3xx, 4xx, 5xx but 503.
    other: u64,
    /// No answer: connect, write or read failed, or `--timeout` passed.
    errors: u64,
    all: Histogram,
    ok_latency: Histogram,
    unavailable_latency: Histogram,
    lag: Histogram,
}

impl Stats {
    fn new() -> Self {
        Self {
            ok: 0,
            unavailable: 0,
            other: 0,
            errors: 0,
            all: Histogram::new(),
            ok_latency: Histogram::new(),
            unavailable_latency: Histogram::new(),
            lag: Histogram::new(),
        }
    }

    fn merge(&mut self, o: &Self) {
        self.ok += o.ok;
        self.unavailable += o.unavailable;
        self.other += o.other;
        self.errors += o.errors;
        self.all.merge(&o.all);
        self.ok_latency.merge(&o.ok_latency);
        self.unavailable_latency.merge(&o.unavailable_latency);
        self.lag.merge(&o.lag);
    }

    /// One JSON line: `last` for the whole run's, `partial` for an interval cut short by
    /// the end of the run.
    fn line(
        &self,
        name: &str,
        t: f64,
        seconds: f64,
        last: bool,
        partial: bool,
        connects: u64,
    ) -> String {
        let n = self.ok + self.unavailable + self.other + self.errors;
        format!(
            concat!(
                "{{\"t\":{:.1},\"final\":{},\"partial\":{},\"scenario\":\"{}\",",
                "\"seconds\":{:.3},",
                "\"requests\":{},\"ok\":{},\"s503\":{},\"other\":{},\"errors\":{},",
                "\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},",
                "\"ok_p50_ms\":{:.3},\"ok_p99_ms\":{:.3},\"ok_max_ms\":{:.3},",
                "\"s503_p50_ms\":{:.3},\"s503_p99_ms\":{:.3},\"lag_p99_ms\":{:.3},",
                "\"lag_max_ms\":{:.3},\"connects\":{}}}"
            ),
            t,
            last,
            partial,
            name,
            seconds,
            n,
            self.ok,
            self.unavailable,
            self.other,
            self.errors,
            self.all.ms(0.5),
            self.all.ms(0.99),
            self.all.max as f64 / 1000.0,
            self.ok_latency.ms(0.5),
            self.ok_latency.ms(0.99),
            self.ok_latency.max as f64 / 1000.0,
            self.unavailable_latency.ms(0.5),
            self.unavailable_latency.ms(0.99),
            self.lag.ms(0.99),
            self.lag.max as f64 / 1000.0,
            connects,
        )
    }
}

// === impl Generator ===

/// One request to make: the `seq`-th of the run, of scenario `scenario`, due at `due`.
struct Ticket {
    seq: u64,
    scenario: usize,
    due: Instant,
}

struct Shared {
    args: Args,
    pattern: Vec<usize>,
    /// The interval's stats, per scenario; swapped out by the reporter.
    stats: Mutex<Vec<Stats>>,
    /// Closed loop: the next request's number.
    next: AtomicU64,
    /// Connections opened: one per connection at the start, and one more each time the
    /// server closed one or a request failed.
    connects: AtomicU64,
    deadline: Instant,
}

enum Source {
    Open(Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Ticket>>>),
    Closed,
}

impl Source {
    async fn next(&self, shared: &Shared) -> Option<Ticket> {
        match self {
            Self::Open(rx) => rx.lock().await.recv().await,
            Self::Closed => {
                let now = Instant::now();
                if now >= shared.deadline {
                    return None;
                }
                let seq = shared.next.fetch_add(1, Ordering::Relaxed);
                let scenario = shared.pattern[(seq % shared.pattern.len() as u64) as usize];
                Some(Ticket {
                    seq,
                    scenario,
                    due: now,
                })
            }
        }
    }
}

async fn connect(shared: &Shared) -> Result<SendRequest<Full<Bytes>>, Error> {
    shared.connects.fetch_add(1, Ordering::Relaxed);
    let stream = TcpStream::connect(shared.args.target).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    shared: &Shared,
    host: &HeaderValue,
    ticket: &Ticket,
) -> Result<u16, Error> {
    let sender = match conn {
        Some(sender) if !sender.is_closed() => sender,
        _ => conn.insert(connect(shared).await?),
    };
    sender.ready().await?;
    let scenario = &shared.args.scenarios[ticket.scenario];
    let req = Request::post(scenario.path.as_str())
        .header(HOST, host)
        .header(CONTENT_TYPE, &scenario.content_type)
        .header("x-seq", ticket.seq)
        .body(Full::new(scenario.body.clone()))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

async fn connection(shared: Arc<Shared>, source: Arc<Source>) {
    let host = match HeaderValue::from_str(&shared.args.target.to_string()) {
        Ok(host) => host,
        Err(_) => HeaderValue::from_static("localhost"),
    };
    let mut conn = None;
    while let Some(ticket) = source.next(&shared).await {
        let sent = Instant::now();
        let answer = tokio::time::timeout(
            shared.args.timeout,
            send(&mut conn, &shared, &host, &ticket),
        )
        .await;
        let latency = sent.saturating_duration_since(ticket.due) + sent.elapsed();
        let status = match answer {
            Ok(Ok(status)) => Some(status),
            _ => {
                // A connection with a request in flight cannot be reused.
                conn = None;
                None
            }
        };
        let mut stats = shared.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let s = &mut stats[ticket.scenario];
        s.all.record(latency);
        s.lag.record(sent.saturating_duration_since(ticket.due));
        match status {
            Some(200..=299) => {
                s.ok += 1;
                s.ok_latency.record(latency);
            }
            Some(503) => {
                s.unavailable += 1;
                s.unavailable_latency.record(latency);
            }
            Some(_) => s.other += 1,
            None => s.errors += 1,
        }
    }
}

/// Open loop: sends each request's ticket when it is due, until the end of the run.
async fn dispatch(shared: Arc<Shared>, tx: mpsc::UnboundedSender<Ticket>, start: Instant) {
    let rate: f64 = shared.args.scenarios.iter().map(|s| s.rate.max(0.0)).sum();
    let total = (shared.args.duration.as_secs_f64() * rate).floor() as u64;
    let mut seq = 0;
    while seq < total {
        let due = ((start.elapsed().as_secs_f64() * rate).floor() as u64 + 1).min(total);
        while seq < due {
            let ticket = Ticket {
                seq,
                scenario: shared.pattern[(seq % shared.pattern.len() as u64) as usize],
                due: start + Duration::from_secs_f64(seq as f64 / rate),
            };
            if tx.send(ticket).is_err() {
                return;
            }
            seq += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn report(shared: &Shared, totals: &mut [Stats], start: Instant, since: &mut Instant, last: bool) {
    let now = Instant::now();
    let seconds = now.duration_since(*since).as_secs_f64();
    *since = now;
    let fresh = vec![Stats::new(); shared.args.scenarios.len()];
    let interval = std::mem::replace(
        &mut *shared.stats.lock().unwrap_or_else(PoisonError::into_inner),
        fresh,
    );
    let t = now.duration_since(start).as_secs_f64();
    let partial = seconds < 0.9 * shared.args.interval.as_secs_f64();
    // All scenarios share the connections: the run's count so far, on every line.
    let connects = shared.connects.load(Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    for (i, s) in interval.iter().enumerate() {
        totals[i].merge(s);
        let name = &shared.args.scenarios[i].name;
        let _ = writeln!(
            out,
            "{}",
            s.line(name, t, seconds, false, partial, connects)
        );
    }
    if last {
        let run = t.min(shared.args.duration.as_secs_f64());
        for (i, s) in totals.iter().enumerate() {
            let name = &shared.args.scenarios[i].name;
            let _ = writeln!(out, "{}", s.line(name, t, run, true, false, connects));
        }
    }
    let _ = out.flush();
}

fn main() -> Result<(), Error> {
    let args = Args::parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let start = Instant::now();
        let shared = Arc::new(Shared {
            pattern: pattern(&args.scenarios),
            stats: Mutex::new(vec![Stats::new(); args.scenarios.len()]),
            next: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            deadline: start + args.duration,
            args,
        });
        let source = if shared.args.closed {
            Arc::new(Source::Closed)
        } else {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(dispatch(Arc::clone(&shared), tx, start));
            Arc::new(Source::Open(Arc::new(tokio::sync::Mutex::new(rx))))
        };
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..shared.args.connections {
            workers.spawn(connection(Arc::clone(&shared), Arc::clone(&source)));
        }
        let mut totals = vec![Stats::new(); shared.args.scenarios.len()];
        let mut since = start;
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::from_std(start + shared.args.interval),
            shared.args.interval,
        );
        // Requests still queued or in flight at the end get `--timeout` to finish.
        let drained = tokio::time::sleep_until(tokio::time::Instant::from_std(
            start + shared.args.duration + shared.args.timeout + Duration::from_secs(1),
        ));
        let mut drained = std::pin::pin!(drained);
        loop {
            tokio::select! {
                joined = workers.join_next() => if joined.is_none() { break },
                _ = tick.tick() => report(&shared, &mut totals, start, &mut since, false),
                () = &mut drained => {
                    workers.abort_all();
                    break;
                }
            }
        }
        report(&shared, &mut totals, start, &mut since, true);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_round_trip_within_a_fifth_of_a_percent() {
        for us in [
            0,
            1,
            999,
            1023,
            1024,
            1500,
            10_000,
            123_456,
            5_000_000,
            4_000_000_000,
        ] {
            let v = Histogram::value(Histogram::index(us));
            let err = (v as f64 - us as f64).abs() / (us.max(1) as f64);
            assert!(err <= 0.002, "{us} -> {v}");
        }
    }

    #[test]
    fn percentiles_come_from_the_recorded_values() {
        let mut h = Histogram::new();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert!((h.ms(0.5) - 50.0).abs() < 0.2, "{}", h.ms(0.5));
        assert!((h.ms(0.99) - 99.0).abs() < 0.2, "{}", h.ms(0.99));
        assert_eq!(h.max, 100_000);
    }

    #[test]
    fn the_pattern_interleaves_scenarios_in_proportion_to_their_rates() {
        let s = |rate| Scenario {
            name: String::new(),
            rate,
            path: String::new(),
            body: Bytes::new(),
            content_type: HeaderValue::from_static("text/plain"),
        };
        let p = pattern(&[s(3.0), s(1.0)]);
        assert_eq!(&p[..8], &[0, 0, 1, 0, 0, 0, 1, 0][..]);
        assert_eq!(p.iter().filter(|&&i| i == 1).count(), 2_500);
    }
}
