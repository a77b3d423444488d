//! Parse + validate + normalize typical identity-provider user create bodies (1–2 KB each),
//! timed against `serde_json::from_slice` alone on the same bytes.
//!
//! Target: parse + validate + normalize takes at most 2.5× the time of
//! `serde_json::from_slice::<Value>`.
//!
//! ```text
//! cargo bench -p scimkit-schema --bench normalize            # all payloads
//! cargo bench -p scimkit-schema --bench normalize -- entra   # payloads whose name contains "entra"
//! ```
//!
//! Without `--bench` (as under `cargo test --benches` or `--all-targets`) every payload is
//! only checked to normalize, once, and nothing is timed.
//!
//! Columns, per payload:
//!
//! - `parse`: `serde_json::from_slice::<Value>`, result dropped.
//! - `parse+norm`: `serde_json::from_slice` and `Bound::normalize(.., Mode::Create, ..)` with
//!   a `Bound` for `User` created once, outside the loop; result dropped.
//! - `+bind`: the same with `registry.bind("User")` inside the loop, as a server handling one
//!   request at a time without caching the binding would do.
//!
//! Each figure is the median over [`SAMPLES`] samples of `n` iterations, `n` chosen after a
//! warm-up so that one sample takes about [`SAMPLE_TARGET`]; the samples of the three
//! measurements are interleaved so that drift in clock speed affects them alike.

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use scimkit_schema::{Bound, Mode, NormalizeOptions, Registry};
use serde_json::{Map, Value};

const SAMPLES: usize = 15;
const SAMPLE_TARGET: Duration = Duration::from_millis(20);
const WARMUP: Duration = Duration::from_millis(200);
const TARGET_RATIO: f64 = 2.5;

struct Payload {
    name: &'static str,
    shape: &'static str,
    bytes: &'static [u8],
    lenient: bool,
}

impl Payload {
    fn options(&self) -> NormalizeOptions {
        if self.lenient {
            NormalizeOptions::lenient()
        } else {
            NormalizeOptions::strict()
        }
    }

    fn options_name(&self) -> &'static str {
        if self.lenient { "lenient" } else { "strict" }
    }
}

const PAYLOADS: [Payload; 4] = [
    Payload {
        name: "rfc-strict",
        shape: "generic RFC 7643 client",
        bytes: include_bytes!("payloads/rfc-strict.json"),
        lenient: false,
    },
    Payload {
        name: "entra",
        shape: "Entra ID: \"True\", nulls, meta, bare manager",
        bytes: include_bytes!("payloads/entra.json"),
        lenient: true,
    },
    Payload {
        name: "okta",
        shape: "Okta: groups [], password",
        bytes: include_bytes!("payloads/okta.json"),
        lenient: true,
    },
    Payload {
        name: "onelogin",
        shape: "OneLogin template: emails object, \"true\", numbers",
        bytes: include_bytes!("payloads/onelogin.json"),
        lenient: true,
    },
];

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the payload is valid JSON")
}

fn parse_normalize(
    bound: &Bound<'_>,
    bytes: &[u8],
    options: &NormalizeOptions,
) -> Map<String, Value> {
    bound
        .normalize(parse(bytes), Mode::Create, options)
        .expect("the payload normalizes")
}

/// Normalizes `payload` once with its options and checks the result; says whether it also
/// normalizes under the strict options.
fn check(registry: &Registry, payload: &Payload) -> bool {
    let bound = registry.bind("User").expect("the User resource type");
    let user = match bound.normalize(parse(payload.bytes), Mode::Create, &payload.options()) {
        Ok(user) => user,
        Err(e) => panic!(
            "{} does not normalize with the {} options: {e}",
            payload.name,
            payload.options_name()
        ),
    };
    assert!(user["userName"].is_string(), "{}: userName", payload.name);
    assert_eq!(
        user["active"],
        Value::Bool(true),
        "{}: active",
        payload.name
    );
    assert!(
        user["emails"][0]["value"].is_string(),
        "{}: emails",
        payload.name
    );
    let enterprise = &user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert!(
        enterprise["manager"]["value"].is_string(),
        "{}: manager",
        payload.name
    );
    // Normalizing a normalized resource returns it unchanged.
    let again = bound
        .normalize(
            Value::Object(user.clone()),
            Mode::Create,
            &payload.options(),
        )
        .expect("a normalized resource normalizes");
    assert_eq!(again, user, "{}: normalization is idempotent", payload.name);
    bound
        .normalize(
            parse(payload.bytes),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .is_ok()
}

/// Runs `f` `n` times, keeping each result alive until it is dropped inside the loop.
fn run<T>(n: u64, f: &mut impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    start.elapsed()
}

/// Warms `f` up for [`WARMUP`] and returns the iteration count for one sample.
fn calibrate<T>(f: &mut impl FnMut() -> T) -> u64 {
    let start = Instant::now();
    let mut iterations = 0u64;
    while start.elapsed() < WARMUP {
        black_box(f());
        iterations += 1;
    }
    let per_iteration = start.elapsed().as_secs_f64() / iterations as f64;
    ((SAMPLE_TARGET.as_secs_f64() / per_iteration).ceil() as u64).max(1)
}

/// Median and interquartile range (relative to the median) of nanosecond samples.
fn summarize(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let median = at(0.5);
    (median, (at(0.75) - at(0.25)) / median)
}

struct Row {
    parse: f64,
    normalize: f64,
    bind: f64,
    noise: f64,
}

fn measure(registry: &Registry, payload: &Payload) -> Row {
    let options = payload.options();
    let bound = registry.bind("User").expect("the User resource type");
    let bytes = payload.bytes;
    let mut a = || parse(black_box(bytes));
    let mut b = || parse_normalize(&bound, black_box(bytes), &options);
    let mut c = || {
        let bound = registry.bind(black_box("User")).expect("User");
        parse_normalize(&bound, black_box(bytes), &options)
    };
    let (na, nb, nc) = (calibrate(&mut a), calibrate(&mut b), calibrate(&mut c));
    let per_doc = |t: Duration, n: u64| t.as_nanos() as f64 / n as f64;
    let (mut sa, mut sb, mut sc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        sa.push(per_doc(run(na, &mut a), na));
        sb.push(per_doc(run(nb, &mut b), nb));
        sc.push(per_doc(run(nc, &mut c), nc));
    }
    let (parse, noise_a) = summarize(sa);
    let (normalize, noise_b) = summarize(sb);
    let (bind, _) = summarize(sc);
    Row {
        parse,
        normalize,
        bind,
        noise: noise_a.max(noise_b),
    }
}

fn mb_per_s(bytes: usize, ns: f64) -> f64 {
    bytes as f64 / ns * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let timed = args.iter().any(|a| a == "--bench");
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let payloads: Vec<&Payload> = PAYLOADS
        .iter()
        .filter(|p| filters.is_empty() || filters.iter().any(|f| p.name.contains(f)))
        .collect();

    let registry = Registry::new();
    println!("payloads (options used; whether the strict options also accept it):");
    for p in &payloads {
        let strict_ok = check(&registry, p);
        println!(
            "  {:<11} {:>5} B  {:<8} strict: {:<3}  {}",
            p.name,
            p.bytes.len(),
            p.options_name(),
            if strict_ok { "ok" } else { "err" },
            p.shape
        );
        if !p.lenient {
            assert!(strict_ok, "{} must normalize under strict options", p.name);
        }
    }
    if !timed {
        println!("checked only; run `cargo bench` to time");
        return;
    }

    println!();
    println!(
        "median of {SAMPLES} samples of ~{} ms each; parse+norm uses a Bound made once, +bind \
         calls registry.bind(\"User\") per document",
        SAMPLE_TARGET.as_millis()
    );
    println!();
    println!(
        "{:<11} {:>6} {:>10} {:>8} {:>11} {:>8} {:>7} {:>10} {:>7} {:>6}",
        "payload",
        "bytes",
        "parse ns",
        "MB/s",
        "parse+norm",
        "MB/s",
        "ratio",
        "+bind ns",
        "ratio",
        "IQR"
    );
    let mut ratios = Vec::new();
    for p in &payloads {
        let row = measure(&registry, p);
        let ratio = row.normalize / row.parse;
        ratios.push((p.name, ratio));
        println!(
            "{:<11} {:>6} {:>10.0} {:>8.1} {:>11.0} {:>8.1} {:>6.2}x {:>10.0} {:>6.2}x {:>5.1}%",
            p.name,
            p.bytes.len(),
            row.parse,
            mb_per_s(p.bytes.len(), row.parse),
            row.normalize,
            mb_per_s(p.bytes.len(), row.normalize),
            ratio,
            row.bind,
            row.bind / row.parse,
            row.noise * 100.0
        );
    }
    if ratios.is_empty() {
        println!("no payload matches {filters:?}");
        return;
    }
    let mean = ratios.iter().map(|(_, r)| r).sum::<f64>() / ratios.len() as f64;
    let (worst, max) = ratios
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one payload");
    println!();
    println!(
        "mean ratio (parse+norm / parse) over {} payloads: {mean:.2}x (max {max:.2}x, {worst}); \
         target <= {TARGET_RATIO}x: {}",
        ratios.len(),
        if mean <= TARGET_RATIO { "PASS" } else { "FAIL" }
    );
}
