//! Parses the filters given as arguments in a loop, for profiling (`N` iterations, default
//! 1,000,000).
#![allow(missing_docs)]
fn main() {
    let mut filters: Vec<String> = std::env::args().skip(1).collect();
    if filters.is_empty() {
        filters.push(r#"userName eq "bjensen""#.into());
    }
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    for _ in 0..n {
        for f in &filters {
            std::hint::black_box(scimkit_filter::parse(std::hint::black_box(f)).ok());
        }
    }
}
