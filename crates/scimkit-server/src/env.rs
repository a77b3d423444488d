//! What the server takes from its surroundings: the time and random bytes. Tests pass a
//! deterministic [`Env`]; [`SystemEnv`] reads the system clock and the OS's random source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// The clock and the randomness the server uses (ids, tokens, request ids).
pub trait Env: Send + Sync + std::fmt::Debug {
    /// The wall-clock time, for `meta` and logs.
    fn now(&self) -> DateTime<Utc>;
    /// A monotonic reading, for rate limits and timeouts.
    fn monotonic(&self) -> Duration;
    /// Fills `buf` with random bytes fit for secrets.
    fn fill_random(&self, buf: &mut [u8]);
}

impl dyn Env + '_ {
    /// `now` as stored and served: RFC 3339 in UTC with milliseconds.
    pub fn timestamp(&self) -> String {
        self.now().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// A new resource id: 128 random bits as a UUID (version 4 layout).
    pub fn new_id(&self) -> String {
        let mut b = [0u8; 16];
        self.fill_random(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// `n` random bytes as lowercase hex.
    pub fn random_hex(&self, n: usize) -> String {
        let mut b = vec![0u8; n];
        self.fill_random(&mut b);
        hex(&b)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The system clock and the OS random source.
#[derive(Debug)]
pub struct SystemEnv {
    start: std::time::Instant,
}

impl SystemEnv {
    /// The system environment.
    pub fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for SystemEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for SystemEnv {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The OS source does not fail on the platforms we build for; if it ever did, no
        // secret may be made from zeros.
        getrandom::fill(buf).expect("the operating system's random source is unavailable");
    }
}

/// A deterministic environment for tests: a settable clock, and "random" bytes from a
/// counter (distinct, predictable, never secret).
#[derive(Debug)]
pub struct FixedEnv {
    /// Milliseconds since the epoch.
    millis: AtomicU64,
    /// Monotonic milliseconds.
    mono: AtomicU64,
    counter: AtomicU64,
}

impl FixedEnv {
    /// A clock stopped at `now` (RFC 3339).
    pub fn at(now: &str) -> Self {
        let t = DateTime::parse_from_rfc3339(now)
            .expect("an RFC 3339 time")
            .with_timezone(&Utc);
        Self {
            millis: AtomicU64::new(u64::try_from(t.timestamp_millis()).unwrap_or(0)),
            mono: AtomicU64::new(0),
            counter: AtomicU64::new(0),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
        self.mono.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Env for FixedEnv {
    fn now(&self) -> DateTime<Utc> {
        let ms = i64::try_from(self.millis.load(Ordering::SeqCst)).unwrap_or(i64::MAX);
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    fn monotonic(&self) -> Duration {
        Duration::from_millis(self.mono.load(Ordering::SeqCst))
    }

    fn fill_random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
            let bytes = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
