//! What the tests that start `scimkit serve` share: the address it listens on.

use std::io::{BufRead, BufReader};
use std::process::ChildStderr;
use std::time::Duration;

/// The address `scimkit serve` listens on, read from its log line `listening addr=…` on
/// `stderr`, which is then drained on a thread of its own so the server never blocks on it.
pub(crate) fn listening_addr(stderr: ChildStderr, patience: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("addr=") {
                let addr: String = line[at + 5..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .filter(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    rx.recv_timeout(patience)
        .expect("scimkit serve logs the address it listens on")
}
