//! What only a person at a terminal sees: the progress bar on stderr and the
//! colour of error messages. Nothing here reaches stdout, a pipe, a file or
//! cron mail: the bar is drawn only when stderr is a terminal, and colour is
//! stripped unless stderr is a terminal and `NO_COLOR` is unset.

use std::io::{self, IsTerminal};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use posrecon::progress::{self, Stage};

/// Whether to draw a progress bar: only for a person watching stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShowProgress {
    OnTerminal,
    Never,
}

/// Runs `work`, showing how far it got while it runs when `show` allows and
/// stderr is a terminal. `inputs` are the files it reads, for the bar's length.
pub(crate) fn with_progress<T>(
    show: ShowProgress,
    inputs: &[&Path],
    work: impl FnOnce() -> T,
) -> T {
    // A dumb terminal (an editor's shell buffer, some CI logs) cannot redraw a line.
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if show == ShowProgress::Never || !io::stderr().is_terminal() || dumb {
        return work();
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|p| p.metadata().ok())
        .map(|m| m.len())
        .sum();
    let start = progress::bytes_read();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    // No colour in the template: the bar looks the same with NO_COLOR.
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:9} [{bar:30}] {bytes}/{total_bytes} ({elapsed})",
        )
        .expect("IE: the progress template is valid")
        .progress_chars("=> "),
    );
    let done = AtomicBool::new(false);
    let result = thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let stage = progress::stage();
                bar.set_message(stage.as_str());
                bar.set_position(if stage == Stage::Reading {
                    progress::bytes_read().saturating_sub(start).min(total)
                } else {
                    total
                });
                bar.tick();
                thread::sleep(Duration::from_millis(100));
            }
        });
        // Stops the bar's thread even if `work` panics, or the scope would
        // wait for it forever.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&done);
        work()
    });
    bar.finish_and_clear();
    result
}

/// Prints an error on stderr: `posrecon: error: ` and the message, with
/// `error:` in bold red on a terminal (anstream strips the colour elsewhere,
/// and when `NO_COLOR` is set).
pub(crate) fn print_error(err: &anyhow::Error) {
    let style = anstyle::AnsiColor::Red.on_default().bold();
    anstream::eprintln!("posrecon: {style}error:{style:#} {err:#}");
}
