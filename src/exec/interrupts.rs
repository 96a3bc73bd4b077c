//! Ctrl-C and SIGTERM: passed on to the running commands' process groups, then a kill.
//!
//! Each command runs in a process group of its own, so a signal reaches the whole tree it
//! started. The first signal is forwarded as is; commands still alive after [`GRACE`] are
//! killed. A second signal kills at once. The groups are announced to the [`watchdog`] too,
//! which ends them if rtask dies without doing so.
//!
//! [`watchdog`]: super::watchdog

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::watchdog::Watch;

/// How long commands get to exit after the first signal.
pub const GRACE: Duration = Duration::from_secs(3);

#[derive(Clone, Default)]
pub struct Interrupts {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    interrupted: AtomicBool,
    groups: Mutex<BTreeSet<i32>>,
    watch: Mutex<Watch>,
}

impl Interrupts {
    /// Start listening for SIGINT and SIGTERM.
    pub fn install() -> std::io::Result<Interrupts> {
        let interrupts = Interrupts::default();
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let inner = Arc::clone(&interrupts.inner);
        thread::Builder::new()
            .name("rtask-signals".into())
            .spawn(move || {
                for raw in signals.forever() {
                    let first = !inner.interrupted.swap(true, Ordering::SeqCst);
                    if first {
                        let signal = Signal::try_from(raw).unwrap_or(Signal::SIGTERM);
                        inner.signal_all(signal);
                        let inner = Arc::clone(&inner);
                        thread::spawn(move || {
                            thread::sleep(GRACE);
                            inner.signal_all(Signal::SIGKILL);
                        });
                    } else {
                        inner.signal_all(Signal::SIGKILL);
                    }
                }
            })?;
        Ok(interrupts)
    }

    pub fn interrupted(&self) -> bool {
        self.inner.interrupted.load(Ordering::SeqCst)
    }

    /// A command is about to start: have the watchdog ready to hear of its group.
    pub fn prepare(&self) {
        self.watch().prepare();
    }

    /// Track a running command's process group; signal it at once if an interrupt came first.
    pub fn register(&self, group: i32) {
        self.watch().started(group);
        self.inner
            .groups
            .lock()
            .expect("no thread panics holding the group set")
            .insert(group);
        if self.interrupted() {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
    }

    pub fn unregister(&self, group: i32) {
        self.inner
            .groups
            .lock()
            .expect("no thread panics holding the group set")
            .remove(&group);
        self.watch().ended(group);
    }

    /// The run is over: no command is left to watch, the watchdog exits.
    pub fn finish(&self) {
        self.watch().end();
    }

    fn watch(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.inner
            .watch
            .lock()
            .expect("no thread panics holding the watchdog")
    }
}

impl Inner {
    fn signal_all(&self, signal: Signal) {
        for &group in self
            .groups
            .lock()
            .expect("no thread panics holding the group set")
            .iter()
        {
            let _ = killpg(Pid::from_raw(group), signal);
        }
    }
}
