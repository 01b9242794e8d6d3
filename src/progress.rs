//! How far a run has got, for the binary to show on a terminal.
//!
//! The library only counts: the stage it is in and the input bytes read so
//! far, in process-wide atomics that a display thread may poll, and, when the
//! binary asks (`POSRECON_TIMINGS`), when each stage began. It never
//! prints, and nothing it writes or returns depends on these counters, so
//! they may be shared by runs in one process (as tests do) at no harm but a
//! wrong bar.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The stages of a `reconcile` run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Reading,
    Matching,
    Deciding,
    Writing,
}

impl Stage {
    const ALL: [Stage; 4] = [
        Stage::Reading,
        Stage::Matching,
        Stage::Deciding,
        Stage::Writing,
    ];

    /// What a person is told the run is doing.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reading => "reading",
            Stage::Matching => "matching",
            Stage::Deciding => "deciding",
            Stage::Writing => "writing",
        }
    }
}

static STAGE: AtomicU8 = AtomicU8::new(0);
static BYTES_READ: AtomicU64 = AtomicU64::new(0);
/// Whether stage times and memory peaks are kept (`POSRECON_TIMINGS`).
static TIMINGS: AtomicBool = AtomicBool::new(false);
/// When a stage was entered, and the process's peak memory (KiB) then,
/// where the system tells it.
type Entered = (Instant, Option<u64>);

/// When each stage was last entered, for `POSRECON_TIMINGS`.
static ENTERED: Mutex<[Option<Entered>; 4]> = Mutex::new([None; 4]);

/// Marks the start of `stage`.
pub(crate) fn enter(stage: Stage) {
    STAGE.store(stage as u8, Ordering::Relaxed);
    if !TIMINGS.load(Ordering::Relaxed) {
        return;
    }
    let peak = peak_kib();
    if let Ok(mut entered) = ENTERED.lock() {
        entered[stage as usize] = Some((Instant::now(), peak));
    }
}

/// Keeps, from now on, when each stage begins and the memory peak then;
/// [`stage_times`] and [`stage_peaks`] report them.
pub fn keep_timings() {
    TIMINGS.store(true, Ordering::Relaxed);
}

/// The process's peak resident memory so far (Linux's VmHWM), in KiB.
pub fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The peak resident memory (KiB) when each stage that was entered began.
pub fn stage_peaks() -> Vec<(Stage, Option<u64>)> {
    let entered = ENTERED.lock().map(|e| *e).unwrap_or_default();
    (0..Stage::ALL.len())
        .filter_map(|i| entered[i].map(|(_, peak)| (Stage::ALL[i], peak)))
        .collect()
}

/// How long each stage of the last run took, up to `end`: what the
/// benchmark's profile starts from. A stage not entered is left out.
pub fn stage_times(end: Instant) -> Vec<(Stage, Duration)> {
    let entered = ENTERED.lock().map(|e| *e).unwrap_or_default();
    let mut times = Vec::new();
    for (i, stage) in entered.iter().enumerate() {
        let Some((start, _)) = stage else { continue };
        let next = entered[i + 1..].iter().flatten().next().map(|&(at, _)| at);
        let stop = next.unwrap_or(end);
        times.push((Stage::ALL[i], stop.saturating_duration_since(*start)));
    }
    times
}

/// Counts `n` more input bytes read.
pub(crate) fn add_bytes_read(n: usize) {
    BYTES_READ.fetch_add(n as u64, Ordering::Relaxed);
}

/// The stage most recently entered.
pub fn stage() -> Stage {
    let i = usize::from(STAGE.load(Ordering::Relaxed));
    Stage::ALL.get(i).copied().unwrap_or(Stage::Writing)
}

/// Input bytes read by this process so far.
pub fn bytes_read() -> u64 {
    BYTES_READ.load(Ordering::Relaxed)
}
