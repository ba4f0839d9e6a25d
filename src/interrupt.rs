//! Ctrl-C, `kill` and a closed terminal (SIGINT, SIGTERM, SIGHUP): the
//! outputs being written are removed, so nothing is left at or beside
//! OUTPUT, and the process exits with 128 + the signal's number (130, 143,
//! 129), as a shell reports a process the signal ended. `kill -9` cannot be
//! caught: its temporary stays until the next run writing the same OUTPUT
//! removes it ([`crate::io::temporaries`]).

use crate::io::temporaries;

/// A signal that ends a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    /// Its number (2, 15 or 1).
    pub signal: i32,
    /// Whether an output had been published before it came (it stays).
    pub after_publishing: bool,
}

impl Interruption {
    /// Its name, `SIGINT` say.
    pub fn name(self) -> &'static str {
        match self.signal {
            signal_hook::consts::SIGINT => "SIGINT",
            signal_hook::consts::SIGTERM => "SIGTERM",
            _ => "SIGHUP",
        }
    }

    /// What happened, for people: `interrupted by SIGTERM; nothing was written`.
    pub fn message(self) -> String {
        match self.after_publishing {
            true => format!("interrupted by {} after OUTPUT was published", self.name()),
            false => format!("interrupted by {}; nothing was written", self.name()),
        }
    }

    /// The exit code a shell gives a process this signal ended.
    pub fn exit_code(self) -> i32 {
        128 + self.signal
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on. On the first of them the
/// outputs being written are removed, `report` is called (to say so, on
/// stderr and in a `--json` object), and the process exits with
/// [`Interruption::exit_code`]. An output being published completes first.
pub fn install(report: impl FnOnce(Interruption) + Send + 'static) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                temporaries::remove_unpublished();
                let interruption = Interruption {
                    signal,
                    after_publishing: temporaries::any_published(),
                };
                // Reported from a thread of its own, waited for a moment: a
                // stdout stuck on a full pipe must not keep the process alive.
                let (done, reported) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    report(interruption);
                    let _ = done.send(());
                });
                let _ = reported.recv_timeout(std::time::Duration::from_secs(2));
                std::process::exit(interruption.exit_code());
            }
        })?;
    Ok(())
}
