//! Filter parsing speed: `cargo bench -p scimkit-filter --bench parse`.
//!
//! Parses a corpus of RFC 7644 example filters and real identity-provider lookups, and prints
//! ns per filter, filters per second and ns per byte. Targets: a mean under 200 ns per filter
//! over the corpus, and `userName eq "bjensen"` under 100 ns.
//!
//! Without `--bench` (as under `cargo test --all-targets`) it only checks that every filter
//! parses.

#![allow(clippy::print_stdout, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// RFC 7644 §3.4.2.2 examples, then lookups identity providers send, then harder shapes.
const CORPUS: &[&str] = &[
    // RFC 7644 §3.4.2.2, Figure 2.
    r#"userName eq "bjensen""#,
    r#"name.familyName co "O'Malley""#,
    r#"userName sw "J""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    r#"title pr"#,
    r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
    r#"title pr and userType eq "Employee""#,
    r#"title pr or userType eq "Intern""#,
    r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType eq "Employee" and (emails.type eq "work")"#,
    r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
    r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    // Identity-provider lookups.
    r#"userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1""#,
    r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
    r#"displayName eq "Group_1f4b9a1d""#,
    r#"userName eq "test.user@okta.local""#,
    r#"emails.value eq "bjensen@example.com""#,
    r#"emails[type eq "work"].value eq "bjensen@example.com""#,
    r#"id eq "2819c223-7f76-453a-919d-413861904646" and members[value eq "902c246b-6245-4190-8e05-00816be7344a"]"#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
    r#"active eq true"#,
    r#"meta.lastModified gt "2024-01-01T00:00:00Z" and active eq false"#,
    r#"userName eq "a@x.com" or userName eq "b@x.com" or userName eq "c@x.com" or userName eq "d@x.com""#,
    r#"name.givenName sw "Bar" and name.familyName ew "sen" and not (title pr)"#,
    r#"emails[type eq "work" and not (value ew ".org")]"#,
    r#"displayName eq "R\u00e9sum\u00e9 \"team\"""#,
];

fn parse_all() {
    for filter in CORPUS {
        if let Err(e) = scimkit_filter::parse(filter) {
            panic!("{filter}: {e}");
        }
    }
}

/// Median ns per call of `f` over several samples of about 20 ms each.
fn measure(mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    let mut calls = 0u64;
    while warm.elapsed() < Duration::from_millis(100) {
        f();
        calls += 1;
    }
    let per_sample = (calls / 5).max(1);
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_sample {
                f();
            }
            t.elapsed().as_nanos() as f64 / per_sample as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Linear time: long `or` chains (with the length limit lifted) and deep nesting (rejected at
/// the default nest limit) cost the same per byte whatever their size.
fn scaling() {
    println!();
    println!(
        "{:>8}  {:>10}  {:>12}  {:>7}  input",
        "terms", "bytes", "ns", "ns/byte"
    );
    let unlimited = scimkit_filter::Parser::new().max_len(usize::MAX);
    for n in [1_000, 10_000, 100_000] {
        let chain = vec![r#"userName eq "x""#; n].join(" or ");
        let ns = measure(|| {
            black_box(unlimited.parse_filter(black_box(&chain)).is_ok());
        });
        assert!(unlimited.parse_filter(&chain).is_ok());
        println!(
            "{n:>8}  {:>10}  {ns:>12.0}  {:>7.2}  `or` chain, parsed",
            chain.len(),
            ns / chain.len() as f64
        );
    }
    for n in [1_000, 10_000, 100_000] {
        let nested = format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        let ns = measure(|| {
            black_box(unlimited.parse_filter(black_box(&nested)).is_err());
        });
        assert!(unlimited.parse_filter(&nested).is_err());
        println!(
            "{n:>8}  {:>10}  {ns:>12.0}  {:>7.2}  nested parentheses, rejected at depth 65",
            nested.len(),
            ns / nested.len() as f64
        );
    }
}

fn main() {
    parse_all();
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "checked {} filters (run with `cargo bench` to measure)",
            CORPUS.len()
        );
        return;
    }
    println!("{:>9}  {:>7}  {:>6}  filter", "ns", "ns/byte", "bytes");
    let mut total_ns = 0.0;
    let mut total_bytes = 0usize;
    let mut simple = 0.0;
    for filter in CORPUS {
        let ns = measure(|| {
            black_box(scimkit_filter::parse(black_box(filter)).ok());
        });
        if *filter == r#"userName eq "bjensen""# {
            simple = ns;
        }
        total_ns += ns;
        total_bytes += filter.len();
        let shown: String = filter.chars().take(70).collect();
        println!(
            "{ns:>9.1}  {:>7.2}  {:>6}  {shown}",
            ns / filter.len() as f64,
            filter.len()
        );
    }
    let mean = total_ns / CORPUS.len() as f64;
    let whole = measure(parse_all);
    println!();
    println!("filters: {}", CORPUS.len());
    println!(
        "mean: {mean:.1} ns per filter ({:.0} filters/s), {:.2} ns per byte",
        1e9 / mean,
        total_ns / total_bytes as f64
    );
    println!(
        "whole corpus in one loop: {:.1} ns per filter",
        whole / CORPUS.len() as f64
    );
    scaling();
    let pass = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!("target mean < 200 ns: {}", pass(mean < 200.0));
    println!(
        "target `userName eq \"bjensen\"` < 100 ns ({simple:.1} ns): {}",
        pass(simple < 100.0)
    );
}
