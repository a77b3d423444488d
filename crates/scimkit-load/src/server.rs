//! The server under test: `target/release/scimkit serve` as a child process on a free port,
//! with a fresh SQLite data directory and rate limiting off. [`Scimkit`] kills it and removes
//! its directory when dropped, also while a panic unwinds.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::StatusCode;

use crate::client::{Conn, Req, Target};

/// How long the server may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `scimkit serve`, killed on drop.
#[derive(Debug)]
pub(crate) struct Scimkit {
    child: Child,
    dir: PathBuf,
    pub(crate) binary: PathBuf,
    pub(crate) target: Target,
}

impl Scimkit {
    /// The binary: `$SCIMKIT_BIN`, else `scimkit` in the `release` directory beside this
    /// tool's own target directory, else `target/release/scimkit` of this workspace.
    pub(crate) fn find_binary() -> Result<PathBuf, String> {
        if let Some(path) = std::env::var_os("SCIMKIT_BIN") {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(format!("SCIMKIT_BIN={}: no such file", path.display()))
            };
        }
        let mut candidates = Vec::new();
        if let Ok(exe) = std::env::current_exe() {
            // target/{release,debug}/scimkit-load → target/release/scimkit
            if let Some(target_dir) = exe.parent().and_then(Path::parent) {
                candidates.push(target_dir.join("release").join("scimkit"));
            }
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/scimkit"));
        candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
            "target/release/scimkit not found: run `cargo build --release -p scimkit-cli` first \
             (or set SCIMKIT_BIN to the binary)"
                .to_owned()
        })
    }

    /// Starts `binary serve` and waits until it answers an authenticated request.
    pub(crate) async fn start(binary: PathBuf, token: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "scimkit-load-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(dir.join("data"))
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let config = dir.join("scimkit.toml");
        std::fs::write(&config, "rate_limit_per_second = 0\n")
            .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let log_path = dir.join("server.log");
        let log =
            File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(&binary)
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--config")
            .arg(&config)
            .env("SCIMKIT_BOOTSTRAP_TOKEN", token)
            .env("SCIMKIT_LOG", "warn")
            .env_remove("SCIMKIT_DATABASE")
            .env_remove("SCIMKIT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut server = Self {
            child,
            dir,
            binary,
            target: Target {
                addr,
                base_path: "/scim/v2/default".to_owned(),
                token: Some(token.to_owned()),
            },
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let probe = Req::get("/ServiceProviderConfig");
        let mut last = String::new();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before answering; its log:\n{}",
                    self.binary.display(),
                    self.log_tail(40)
                ));
            }
            match Conn::open(&self.target).await {
                Ok(mut conn) => match conn.send(&probe).await {
                    Ok(r) if r.status == StatusCode::OK => return Ok(()),
                    Ok(r) => last = format!("{probe}: {} {}", r.status, r.text()),
                    Err(e) => last = e,
                },
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "{} did not answer within {} s (last: {last}); its log:\n{}",
            self.binary.display(),
            START_TIMEOUT.as_secs(),
            self.log_tail(40)
        ))
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the SQLite database lives.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's log (stderr, at `warn`).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn log_tail(&self, n: usize) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The distinct lines of a log, without colours and timestamps, with how often each
/// occurs, most frequent first.
pub(crate) fn summarize_log(text: &str) -> Vec<(usize, String)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let plain = strip_ansi(line);
        let plain = plain.trim();
        // `2026-11-28T15:39:41.948122Z  WARN target: message`: drop the timestamp.
        let rest = match plain.split_once(' ') {
            Some((first, rest)) if first.contains('T') && first.ends_with('Z') => rest.trim(),
            _ => plain,
        };
        if !rest.is_empty() {
            *counts.entry(rest.to_owned()).or_default() += 1;
        }
    }
    let mut lines: Vec<(usize, String)> = counts.into_iter().map(|(l, n)| (n, l)).collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    lines
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for Scimkit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago (the OS picks it; the listener is closed again).
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_summarized_without_colours_and_timestamps() {
        let log = "\u{1b}[2m2026-11-28T15:39:41.948122Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m a: x\n\
                   2026-11-28T15:39:42.000000Z  WARN a: x\n\
                   2026-11-28T15:39:43.000000Z ERROR b: y\n";
        assert_eq!(
            summarize_log(log),
            vec![(2, "WARN a: x".to_owned()), (1, "ERROR b: y".to_owned())]
        );
    }
}
