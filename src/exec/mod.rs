//! Running sessions: processes, interrupts, one session, and the scheduler over the graph.

pub mod interrupts;
pub mod process;
pub mod scheduler;
pub mod session;
pub mod sharing;
pub(crate) mod watchdog;
