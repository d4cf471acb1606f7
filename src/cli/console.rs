//! The terminal side of a run: progress bars (the library's `Observer` and `Progress`),
//! per-epoch lines, and the Ctrl-C handler that asks a run to stop between batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use bsp_sim::engine::Tally;
use bsp_sim::progress::{NoProgress, Progress};
use bsp_sim::report::{EpochRecord, Summary};
use bsp_sim::run::Observer;
use bsp_sim::text::{plural, sig3};

/// A flag that the first Ctrl-C, SIGTERM or SIGHUP sets (the run stops after the current
/// batch, marks its outputs `interrupted` and exits with 130); a second one exits at once
/// (the files then still say `running`, and readers, who find the run directory's lock
/// free, report the run as interrupted).
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing the current batch (Ctrl-C or SIGTERM again to quit at once)"
        );
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not stop the run cleanly: {e}");
    }
    stop
}

/// A download's progress bar on the terminal: the file's name, a bar and the bytes.
pub struct DownloadBar {
    bar: ProgressBar,
    /// Whether the bar disappears when the download is complete (`data fetch`, which
    /// prints where the files are) or stays above what follows (a run's lines).
    clear: bool,
}

impl DownloadBar {
    /// The bar of a run or evaluation that has to download its data first.
    pub fn for_run() -> Self {
        Self::new("downloading {msg} [{bar:30}] {bytes}/{total_bytes}", false)
    }

    /// The bar of `bsp-sim data fetch`.
    pub fn for_fetch() -> Self {
        Self::new(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            true,
        )
    }

    fn new(template: &str, clear: bool) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        DownloadBar { bar, clear }
    }
}

impl Progress for DownloadBar {
    fn start(&self, what: &str, total: Option<u64>) {
        self.bar.set_message(what.to_string());
        self.bar.set_position(0);
        // A server that announces no size leaves the bar at the previous file's length.
        if let Some(len) = total {
            self.bar.set_length(len);
        }
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        if self.clear {
            self.bar.finish_and_clear();
        } else {
            self.bar.finish();
        }
    }
}

/// Progress bars and per-epoch lines on the terminal.
pub struct Console {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Console {
    pub fn new(quiet: bool) -> Self {
        Console { quiet, bar: None }
    }
}

impl Observer for Console {
    fn download_progress(&mut self) -> Box<dyn Progress> {
        if self.quiet {
            return Box::new(NoProgress);
        }
        Box::new(DownloadBar::for_run())
    }

    fn run_started(&mut self, run_dir: &std::path::Path, s: &Summary) {
        eprintln!(
            "{}: {} train / {} test samples, seed {}, {} -> {}",
            s.model_name,
            s.train_samples,
            s.test_samples,
            s.seed,
            plural(s.threads, "thread"),
            run_dir.display()
        );
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, samples: usize) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(samples as u64);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "epoch {epoch}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{elapsed_precise}}<{{eta_precise}} {{rate}} samples/s {{msg}}"
            ))
            .expect("valid template")
            .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&sig3(state.per_sec()));
            }),
        );
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, done: usize, running: &Tally) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}%",
                running.mean_loss(),
                100.0 * running.accuracy()
            ));
        }
    }

    fn note(&mut self, text: &str) {
        eprintln!("note: {text}");
    }

    fn epoch_done(&mut self, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!(
            "epoch {:>3}  {:<5}  lr {:.5}  train loss {:.4} acc {:6.2}%  test loss {:.4} acc {:6.2}%  {} samples/s",
            r.epoch,
            r.engine,
            r.lr,
            r.train_loss,
            100.0 * r.train_accuracy,
            r.test_loss,
            100.0 * r.test_accuracy,
            sig3(r.samples_per_second)
        );
    }
}
