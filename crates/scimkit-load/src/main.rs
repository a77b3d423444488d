//! `scimkit-load`: a load benchmark of `scimkit serve`.
//!
//! It starts `target/release/scimkit` (build it first: `cargo build --release -p
//! scimkit-cli`) as a child process on a free port, with a fresh SQLite data directory and
//! rate limiting off, seeds 10,000 users, a group with all of them as members and a few
//! hundred extra users, then runs six scenarios for `--seconds` each (after 1 s of warm-up)
//! over `--connections` keep-alive HTTP/1.1 connections:
//!
//! - (a) `GET /Users/{id}` of random seeded users;
//! - (b) `GET /Users?filter=userName eq "…"` of random seeded users;
//! - (c) `POST /Users` with unique userNames;
//! - (d) an Entra-style `PATCH /Users/{id}` replacing `displayName` and `name.familyName`;
//! - (e) `PATCH /Groups/{id}` adding, then removing, an extra user as a member of the big
//!   group;
//! - (f) the ceiling: a minimal hyper server in this process answering every request with a
//!   fixed ~400-byte JSON body, loaded with the requests of (a).
//!
//! It prints requests per second, p50 and p99 latency and the non-2xx count of each, and
//! exits non-zero when any request failed. Client and server share the machine.
//!
//! This is a measuring tool, not a test: it does not build the server, does not talk to
//! PostgreSQL, and does not judge the numbers.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod ceiling;
mod client;
mod load;
mod seed;
mod server;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use crate::ceiling::Ceiling;
use crate::client::{Req, Target, encode_query_value};
use crate::load::{MakeReq, Outcome, Plan, TaskCtx};
use crate::seed::{PATCH_OP, Seeded};
use crate::server::Scimkit;

const USAGE: &str = "\
usage: scimkit-load [--seconds N] [--connections C] [--only LETTERS] [--smoke]

Benchmarks `target/release/scimkit serve` (build it first: cargo build --release -p scimkit-cli;
or set SCIMKIT_BIN). Run it built with --release: cargo run --release -p scimkit-load

  --seconds N       measured seconds per scenario, after 1 s of warm-up [default: 10]
  --connections C   concurrent keep-alive HTTP/1.1 connections [default: 32]
  --only LETTERS    run only these scenarios, e.g. `af` for GET by id and the ceiling
  --smoke           a quick check: 1 s per scenario, 4 connections, 200 users, 200 members
";

/// The bearer token of tenant `default` in the child server.
const TOKEN: &str = "scimkit-load-token";

#[derive(Debug)]
struct Args {
    seconds: u64,
    connections: usize,
    users: usize,
    extras: usize,
    only: Option<String>,
    smoke: bool,
}

impl Args {
    /// Whether scenario `letter` runs.
    fn runs(&self, letter: char) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(letter))
    }
}

impl Args {
    fn parse() -> Result<Option<Self>, String> {
        let mut seconds = None;
        let mut connections = None;
        let mut smoke = false;
        let mut only = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--seconds" => seconds = Some(positive(&value("--seconds")?, "--seconds")?),
                "--connections" => {
                    connections = Some(positive(&value("--connections")?, "--connections")?);
                }
                "--only" => {
                    let letters = value("--only")?;
                    if letters.is_empty() || !letters.chars().all(|c| ('a'..='f').contains(&c)) {
                        return Err(format!(
                            "--only takes scenario letters a to f, not {letters:?}\n\n{USAGE}"
                        ));
                    }
                    only = Some(letters);
                }
                "--smoke" => smoke = true,
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        let connections = connections.unwrap_or(if smoke { 4 } else { 32 }) as usize;
        Ok(Some(Self {
            seconds: seconds.unwrap_or(if smoke { 1 } else { 10 }),
            connections,
            users: if smoke { 200 } else { 10_000 },
            // Each connection adds and removes its own extra users.
            extras: (connections * 8).max(if smoke { 32 } else { 256 }),
            only,
            smoke,
        }))
    }
}

fn positive(text: &str, name: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{name} takes a positive whole number, not {text:?}"
        )),
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("scimkit-load: {e}");
            return ExitCode::from(2);
        }
    };
    // `run` owns the child server, so that it is killed before the process exits.
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("scimkit-load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A named scenario and its result.
struct Row {
    name: String,
    outcome: Outcome,
}

/// Runs everything; `Ok(false)` when some request failed.
fn run(args: &Args) -> Result<bool, String> {
    let binary = Scimkit::find_binary()?;
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "scimkit-load: {cpus} CPUs (available_parallelism); client, server and ceiling share this machine"
    );
    if cfg!(debug_assertions) {
        println!(
            "warning: scimkit-load is a debug build; its client is slow. Use `cargo run --release -p scimkit-load`"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("client")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let plan = Plan {
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(args.seconds),
        connections: args.connections,
    };
    println!(
        "plan: {} connections, 1 s warm-up + {} s per scenario{}",
        plan.connections,
        args.seconds,
        if args.smoke { " (smoke)" } else { "" }
    );

    let mut rows = runtime.block_on(async {
        let server = Scimkit::start(binary, TOKEN).await?;
        println!(
            "server: {} serve (pid {}) on {}, SQLite in {}, rate limit off",
            server.binary.display(),
            server.pid(),
            server.target.addr,
            server.data_dir().display()
        );
        let started = Instant::now();
        let seeded = seed::seed(&server.target, args.users, args.extras).await?;
        println!(
            "seeded in {:.1} s: {} users (/Bulk, ≤1000 per request), group {} with {} members (PATCH, 1000 per request), {} extra users",
            started.elapsed().as_secs_f64(),
            seeded.users.len(),
            seeded.group_id,
            seeded.users.len(),
            seeded.extras.len()
        );
        let rows = scenarios(&server, &seeded, plan, args).await;
        // Linux: the server's resident memory, its read cache of users included.
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", server.pid())) {
            for line in status.lines().filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM")) {
                println!("server {}", line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        let log = server::summarize_log(&server.log());
        if log.is_empty() {
            println!("server log (stderr, warn and above): empty");
        } else {
            let total: usize = log.iter().map(|(n, _)| n).sum();
            println!("server log (stderr, warn and above): {total} lines; distinct, most frequent first:");
            for (n, line) in log.iter().take(10) {
                println!("  {n:>6} × {line}");
            }
        }
        Ok::<_, String>(rows)
        // `server` is dropped here: the child is killed and its directory removed.
    })?;

    if !args.runs('f') {
        return Ok(report(&rows, plan));
    }
    let ceiling = Ceiling::start()?;
    let target = Target {
        addr: ceiling.addr,
        base_path: "/scim/v2/default".to_owned(),
        token: Some(TOKEN.to_owned()),
    };
    // The same requests as (a); ids need not exist, the answer is always the same.
    let ids: Arc<Vec<String>> = Arc::new((0..args.users).map(|i| format!("{i:08x}")).collect());
    let name = format!("(f) ceiling: hyper, fixed {} B JSON", Ceiling::body_len());
    println!("running {name}");
    let outcome = runtime.block_on(load::run(&target, plan, get_user(ids), 6));
    rows.push(Row { name, outcome });
    drop(ceiling);

    Ok(report(&rows, plan))
}

async fn scenarios(server: &Scimkit, seeded: &Seeded, plan: Plan, args: &Args) -> Vec<Row> {
    let ids: Arc<Vec<String>> = Arc::new(seeded.users.iter().map(|(id, _)| id.clone()).collect());
    let names: Arc<Vec<String>> = Arc::new(seeded.users.iter().map(|(_, n)| n.clone()).collect());
    let scenarios: Vec<(String, MakeReq)> = vec![
        ("(a) GET /Users/{id}".to_owned(), get_user(Arc::clone(&ids))),
        (
            "(b) GET /Users?filter=userName eq".to_owned(),
            Arc::new(move |ctx: &mut TaskCtx| {
                let name = &names[ctx.rng.below(names.len())];
                let filter = encode_query_value(&format!("userName eq \"{name}\""));
                Req::get(format!("/Users?filter={filter}"))
            }),
        ),
        (
            "(c) POST /Users".to_owned(),
            Arc::new(|ctx: &mut TaskCtx| {
                let name = format!("new-{}-{}@load.example", ctx.task, ctx.n);
                let family = format!("New{}x{}", ctx.task, ctx.n);
                Req::with_json(Method::POST, "/Users", &seed::user(&name, "Load", &family))
            }),
        ),
        ("(d) PATCH /Users/{id} (Entra)".to_owned(), {
            let ids = Arc::clone(&ids);
            Arc::new(move |ctx: &mut TaskCtx| {
                let id = &ids[ctx.rng.below(ids.len())];
                Req::with_json(
                    Method::PATCH,
                    format!("/Users/{id}"),
                    &json!({
                        "schemas": [PATCH_OP],
                        "Operations": [
                            {"op": "Replace", "path": "displayName",
                             "value": format!("Renamed {} {}", ctx.task, ctx.n)},
                            {"op": "Replace", "path": "name.familyName",
                             "value": format!("Family{}x{}", ctx.task, ctx.n)},
                        ],
                    }),
                )
            })
        }),
        (
            format!("(e) PATCH /Groups/{{id}} ±1 of {}", seeded.users.len()),
            member_add_remove(&seeded.group_id, &seeded.extras, plan.connections),
        ),
    ];
    let mut rows = Vec::new();
    for (i, (name, make)) in scenarios.into_iter().enumerate() {
        if !args.runs(name.chars().nth(1).unwrap_or_default()) {
            continue;
        }
        println!("running {name}");
        let outcome = load::run(&server.target, plan, make, i as u64 + 1).await;
        rows.push(Row { name, outcome });
    }
    rows
}

/// `GET /Users/{id}` of a random id.
fn get_user(ids: Arc<Vec<String>>) -> MakeReq {
    Arc::new(move |ctx: &mut TaskCtx| Req::get(format!("/Users/{}", ids[ctx.rng.below(ids.len())])))
}

/// Each task owns a slice of the extra users and alternates: add one to the group, remove
/// it again, go on with the next.
fn member_add_remove(group_id: &str, extras: &[String], connections: usize) -> MakeReq {
    let per_task = (extras.len() / connections).max(1);
    let extras = extras.to_vec();
    let path = format!("/Groups/{group_id}");
    Arc::new(move |ctx: &mut TaskCtx| {
        let k = (ctx.n / 2) as usize % per_task;
        let user = &extras[(ctx.task * per_task + k) % extras.len()];
        let op = if ctx.n.is_multiple_of(2) {
            "add"
        } else {
            "remove"
        };
        Req::with_json(
            Method::PATCH,
            path.clone(),
            &json!({
                "schemas": [PATCH_OP],
                "Operations": [{"op": op, "path": "members", "value": [{"value": user}]}],
            }),
        )
    })
}

/// Prints the table and the failures; `false` when any request failed.
fn report(rows: &[Row], plan: Plan) -> bool {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    println!();
    println!(
        "{} connections, {} s measured per scenario; req/s and latencies count 2xx responses completed in the window",
        plan.connections,
        plan.measure.as_secs()
    );
    println!(
        "{:<width$}  {:>9}  {:>10}  {:>8}  {:>8}  {:>7}",
        "scenario", "requests", "req/s", "p50 ms", "p99 ms", "non-2xx"
    );
    for row in rows {
        let o = &row.outcome;
        println!(
            "{:<width$}  {:>9}  {:>10.0}  {:>8.2}  {:>8.2}  {:>7}",
            row.name,
            o.ok,
            o.per_second(),
            o.p50.as_secs_f64() * 1e3,
            o.p99.as_secs_f64() * 1e3,
            o.non_2xx() + o.transport_errors,
        );
    }
    let row = |prefix: &str| rows.iter().find(|r| r.name.starts_with(prefix));
    if let (Some(get), Some(ceiling)) = (row("(a)"), row("(f)")) {
        let ceiling_rps = ceiling.outcome.per_second();
        if ceiling_rps > 0.0 {
            println!(
                "GET /Users/{{id}} as % of the ceiling: {:.1}%",
                100.0 * get.outcome.per_second() / ceiling_rps
            );
        }
    }
    let mut clean = true;
    for row in rows.iter().filter(|r| r.outcome.failed()) {
        clean = false;
        let o = &row.outcome;
        println!();
        println!(
            "FAILED {}: {} non-2xx {:?} (status → count), {} without a response:",
            row.name,
            o.non_2xx(),
            o.statuses,
            o.transport_errors
        );
        for (what, (count, examples)) in &o.failures {
            println!("  {count} × {what}");
            for example in examples.iter().filter(|e| !e.is_empty()) {
                println!("      e.g. {example}");
            }
        }
    }
    clean
}
