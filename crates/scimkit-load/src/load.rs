//! Running one scenario: `connections` tasks, each owning one keep-alive connection, send
//! requests back to back for the warm-up and then the measured window; latencies of the 2xx
//! responses completed inside the window are kept per task and merged at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Conn, Req, Rng, Target};

/// How many requests are kept as examples of each distinct failure.
const EXAMPLES: usize = 2;

/// Failures by what came back (status and body, or the transport error): how many, and a
/// few of the requests that got it.
pub(crate) type Failures = BTreeMap<String, (u64, Vec<String>)>;

fn note(failures: &mut Failures, what: String, request: impl FnOnce() -> String) {
    let (count, examples) = failures.entry(what).or_default();
    *count += 1;
    if examples.len() < EXAMPLES {
        examples.push(request());
    }
}

/// What a request maker sees: which task it runs in, how many requests that task has made,
/// and the task's random number generator.
#[derive(Debug)]
pub(crate) struct TaskCtx {
    pub(crate) task: usize,
    pub(crate) n: u64,
    pub(crate) rng: Rng,
}

/// Makes the next request of a task.
pub(crate) type MakeReq = Arc<dyn Fn(&mut TaskCtx) -> Req + Send + Sync>;

/// How long and how wide a scenario runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    pub(crate) connections: usize,
}

/// A scenario's result.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// 2xx responses completed in the measured window.
    pub(crate) ok: usize,
    pub(crate) measure: Duration,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// Non-2xx responses over the whole run (warm-up included), by status.
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connection refused, reset, closed).
    pub(crate) transport_errors: u64,
    /// Every failure (non-2xx or no response), grouped by what came back.
    pub(crate) failures: Failures,
}

impl Outcome {
    pub(crate) fn non_2xx(&self) -> u64 {
        self.statuses.values().sum()
    }

    pub(crate) fn failed(&self) -> bool {
        self.non_2xx() > 0 || self.transport_errors > 0
    }

    pub(crate) fn per_second(&self) -> f64 {
        self.ok as f64 / self.measure.as_secs_f64()
    }
}

#[derive(Debug, Default)]
struct TaskResult {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    failures: Failures,
}

/// Runs one scenario against `target`.
pub(crate) async fn run(target: &Target, plan: Plan, make: MakeReq, seed: u64) -> Outcome {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.measure;
    let tasks: Vec<_> = (0..plan.connections)
        .map(|task| {
            let target = target.clone();
            let make = Arc::clone(&make);
            let ctx = TaskCtx {
                task,
                n: 0,
                rng: Rng::new(seed ^ ((task as u64 + 1) << 32)),
            };
            tokio::spawn(run_task(target, make, ctx, measure_from, end))
        })
        .collect();
    let mut outcome = Outcome {
        measure: plan.measure,
        ..Outcome::default()
    };
    let mut latencies = Vec::new();
    for task in tasks {
        match task.await {
            Ok(r) => {
                latencies.extend(r.latencies);
                for (status, count) in r.statuses {
                    *outcome.statuses.entry(status).or_default() += count;
                }
                outcome.transport_errors += r.transport_errors;
                for (what, (count, examples)) in r.failures {
                    let (total, kept) = outcome.failures.entry(what).or_default();
                    *total += count;
                    kept.extend(examples);
                    kept.truncate(EXAMPLES);
                }
            }
            Err(e) => {
                outcome.transport_errors += 1;
                note(
                    &mut outcome.failures,
                    format!("a client task failed: {e}"),
                    String::new,
                );
            }
        }
    }
    latencies.sort_unstable();
    outcome.ok = latencies.len();
    outcome.p50 = percentile(&latencies, 50);
    outcome.p99 = percentile(&latencies, 99);
    outcome
}

async fn run_task(
    target: Target,
    make: MakeReq,
    mut ctx: TaskCtx,
    measure_from: Instant,
    end: Instant,
) -> TaskResult {
    let mut result = TaskResult {
        latencies: Vec::with_capacity(16 * 1024),
        ..TaskResult::default()
    };
    let mut conn = match Conn::open(&target).await {
        Ok(c) => c,
        Err(e) => {
            result.transport_errors += 1;
            note(&mut result.failures, e, || {
                "opening the connection".to_owned()
            });
            return result;
        }
    };
    while Instant::now() < end {
        let req = make(&mut ctx);
        ctx.n += 1;
        let sent = Instant::now();
        match conn.send(&req).await {
            Ok(resp) if resp.status.is_success() => {
                let done = Instant::now();
                if sent >= measure_from && done <= end {
                    result.latencies.push(done - sent);
                }
            }
            Ok(resp) => {
                *result.statuses.entry(resp.status.as_u16()).or_default() += 1;
                note(
                    &mut result.failures,
                    format!("{} {}", resp.status, resp.text()),
                    || describe(&req),
                );
            }
            Err(e) => {
                result.transport_errors += 1;
                note(&mut result.failures, format!("no response: {e}"), || {
                    describe(&req)
                });
                conn = match Conn::open(&target).await {
                    Ok(c) => c,
                    Err(e) => {
                        note(
                            &mut result.failures,
                            format!("reconnecting: {e}"),
                            String::new,
                        );
                        return result;
                    }
                };
            }
        }
    }
    result
}

/// A request with its body, for the report.
fn describe(req: &Req) -> String {
    match &req.body {
        Some(body) => format!("{req} {}", String::from_utf8_lossy(body)),
        None => req.to_string(),
    }
}

/// The nearest-rank percentile `p` of sorted `values` (zero when empty).
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
