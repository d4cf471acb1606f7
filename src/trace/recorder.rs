//! The recorder: a [`TraceSink`] that streams events and states to `RUN_DIR/trace/` while a
//! run goes. Memory stays bounded: rows go through 64 KiB write buffers, VCD changes are
//! held for one minibatch only, and the runner flushes after every batch that recorded
//! anything. An I/O error (e.g. a full disk) is kept and returned by the next
//! [`Recorder::flush`], so the engine's loop never sees it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::csv::{CsvStream, EventRow, StateRow, EVENT_HEADER, STATE_HEADER};
use super::manifest::{
    Complete, Counts, Extent, Files, Manifest, SelectionInfo, TimeInfo, TraceStatus, FORMAT,
};
use super::vcd::{VcdStream, TICK};
use super::{Selection, StateSample, TraceSink, WaveEvent};
use crate::error::OutputError;
use crate::fsutil::{create_dir, WriterInfo};

pub const EVENTS_FILE: &str = "events.csv";
pub const STATES_FILE: &str = "states.csv";
pub const VCD_FILE: &str = "waves.vcd";

/// What the manifest says about the run being recorded.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub model_name: String,
    pub seed: u64,
    pub engine: String,
    pub layers: Vec<usize>,
    /// The canonical spec string of the selection.
    pub spec: String,
    pub dt: f64,
    pub forward_window: f64,
    pub backward_window: f64,
}

/// Streams a run's traces to files.
pub struct Recorder {
    dir: PathBuf,
    selection: Selection,
    manifest: Manifest,
    events: Option<CsvStream>,
    states: Option<CsvStream>,
    vcd: Option<VcdStream>,
    epoch: usize,
    /// T + T_b: the VCD time one presentation takes.
    period: f64,
    /// VCD start time of each presentation of the current epoch, by sample.
    starts: HashMap<usize, f64>,
    error: Option<OutputError>,
    dirty: bool,
}

impl Recorder {
    /// Creates `dir` with the files the selection asks for and a `running` manifest.
    pub fn create(
        dir: &Path,
        selection: Selection,
        info: RunInfo,
    ) -> Result<Recorder, OutputError> {
        create_dir(dir)?;
        let at = |name: &str| dir.join(name);
        let io = |name: &str| {
            let path = at(name);
            move |source| OutputError {
                path,
                cause: source,
            }
        };
        let events = if selection.events {
            Some(CsvStream::create(&at(EVENTS_FILE), &EVENT_HEADER).map_err(io(EVENTS_FILE))?)
        } else {
            None
        };
        let states = if selection.states {
            Some(CsvStream::create(&at(STATES_FILE), &STATE_HEADER).map_err(io(STATES_FILE))?)
        } else {
            None
        };
        let vcd = if selection.vcd && selection.events {
            let comment = format!(
                "bsp-sim send-on-delta events (theta {}, backward {}) of run {}; 1 tick = {TICK} model time units; \
                 presentation k starts at k * {}",
                selection.theta,
                selection.theta_backward,
                info.run_id,
                info.forward_window + info.backward_window
            );
            Some(VcdStream::create(&at(VCD_FILE), &selection, &comment).map_err(io(VCD_FILE))?)
        } else {
            None
        };
        let manifest = Manifest {
            format: FORMAT.into(),
            version: super::manifest::VERSION,
            status: TraceStatus::Running,
            error: None,
            run_id: info.run_id,
            model_name: info.model_name,
            seed: info.seed,
            engine: info.engine,
            layers: info.layers,
            selection: SelectionInfo {
                spec: info.spec,
                neurons: selection
                    .neurons
                    .iter()
                    .map(|ns| super::spec::ranges(ns))
                    .collect(),
                waves: selection.waves.clone(),
                events: selection.events,
                states: selection.states,
                every: selection.every,
                theta: selection.theta,
                theta_backward: selection.theta_backward,
            },
            time: TimeInfo {
                dt: info.dt,
                forward_window: info.forward_window,
                backward_window: info.backward_window,
                vcd_tick: TICK,
                note:
                    "`time` in the CSV files is simulated time within a presentation \
                       (forward window [0, T], backward window [T, T + T_b]); a presentation \
                       is (epoch, sample); in the VCD the k-th presentation starts at k * (T + T_b)"
                        .into(),
            },
            files: Files {
                events: events.as_ref().map(|_| EVENTS_FILE.into()),
                states: states.as_ref().map(|_| STATES_FILE.into()),
                vcd: vcd.as_ref().map(|_| VCD_FILE.into()),
            },
            counts: Counts::default(),
            started: now(),
            finished: None,
            epoch: 0,
            complete: Complete::default(),
            writer: Some(WriterInfo::current()),
        };
        manifest.write(dir)?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            period: info.forward_window + info.backward_window,
            selection,
            manifest,
            events,
            states,
            vcd,
            epoch: 1,
            starts: HashMap::new(),
            error: None,
            dirty: false,
        })
    }

    /// The trace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records from now on belong to training epoch `epoch` (1-based). Writes the manifest
    /// (fsynced) with its counts.
    pub fn set_epoch(&mut self, epoch: usize) -> Result<(), OutputError> {
        self.flush()?;
        self.epoch = epoch;
        self.manifest.epoch = epoch;
        self.starts.clear();
        self.manifest.write(&self.dir)
    }

    /// Writes everything buffered to the files and, when anything was, refreshes the
    /// manifest with the length and rows of each file, all whole at this point; returns the
    /// first I/O error since the last flush, naming the file (the manifest then keeps the
    /// extents of the last good flush).
    pub fn flush(&mut self) -> Result<(), OutputError> {
        if self.dirty {
            self.dirty = false;
            let files = [EVENTS_FILE, STATES_FILE, VCD_FILE];
            let results = [
                self.events.as_mut().map(CsvStream::flush),
                self.states.as_mut().map(CsvStream::flush),
                self.vcd.as_mut().map(VcdStream::flush),
            ];
            for (name, r) in files.iter().zip(results) {
                if let Some(Err(e)) = r {
                    self.keep(name, e);
                }
            }
            self.update_counts();
            if self.error.is_none() {
                match self.extents() {
                    Ok(complete) => {
                        self.manifest.complete = complete;
                        if let Err(e) = self.manifest.refresh(&self.dir) {
                            self.error = Some(e);
                        }
                    }
                    Err((name, e)) => self.keep(name, e),
                }
            }
        }
        self.update_counts();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Each file's length and rows now (right after a flush: all whole).
    fn extents(&mut self) -> Result<Complete, (&'static str, std::io::Error)> {
        let extent = |r: std::io::Result<(u64, u64)>, name| {
            r.map(|(bytes, rows)| Extent { bytes, rows })
                .map_err(|e| (name, e))
        };
        Ok(Complete {
            events: match &self.events {
                Some(w) => Some(extent(w.extent(), EVENTS_FILE)?),
                None => None,
            },
            states: match &self.states {
                Some(w) => Some(extent(w.extent(), STATES_FILE)?),
                None => None,
            },
            vcd: match &mut self.vcd {
                Some(w) => Some(extent(w.extent(), VCD_FILE)?),
                None => None,
            },
        })
    }

    /// Ends the recording: flushes and writes the manifest with `status` (and the error
    /// message of a failed run). Returns the trace directory.
    pub fn finish(
        mut self,
        status: TraceStatus,
        error: Option<String>,
    ) -> Result<PathBuf, OutputError> {
        let flushed = self.flush();
        self.manifest.status = match (&flushed, status) {
            (Err(_), TraceStatus::Complete) => TraceStatus::Failed,
            (_, s) => s,
        };
        self.manifest.error = match (&flushed, error) {
            (_, Some(e)) => Some(e),
            (Err(e), None) => Some(e.to_string()),
            (Ok(()), None) => None,
        };
        self.manifest.finished = Some(now());
        self.manifest.write(&self.dir)?;
        flushed.map(|()| self.dir)
    }

    fn update_counts(&mut self) {
        let c = &mut self.manifest.counts;
        c.events = self.events.as_ref().map_or(0, CsvStream::rows);
        c.states = self.states.as_ref().map_or(0, CsvStream::rows);
    }

    fn keep(&mut self, file: &str, source: std::io::Error) {
        if self.error.is_none() {
            self.error = Some(OutputError {
                path: self.dir.join(file),
                cause: source,
            });
        }
    }

    /// VCD start time of `sample`'s presentation in the current epoch (a new one is laid
    /// after the last).
    fn start_of(&mut self, sample: usize) -> f64 {
        if let Some(&t) = self.starts.get(&sample) {
            return t;
        }
        let t = self.manifest.counts.presentations as f64 * self.period;
        self.manifest.counts.presentations += 1;
        self.starts.insert(sample, t);
        if let Some(v) = self.vcd.as_mut() {
            v.presentation(t, sample);
        }
        t
    }
}

impl TraceSink for Recorder {
    fn selection(&self) -> &Selection {
        &self.selection
    }

    fn event(&mut self, e: &WaveEvent) {
        self.dirty = true;
        let start = self.start_of(e.sample);
        if let Some(v) = self.vcd.as_mut() {
            v.event(start + e.time, e.wave, e.layer, e.neuron, e.value);
        }
        if let Some(w) = self.events.as_mut() {
            if let Err(err) = w.write(&EventRow::new(self.epoch, e)) {
                self.keep(EVENTS_FILE, err);
            }
        }
    }

    fn state(&mut self, s: &StateSample) {
        self.dirty = true;
        self.start_of(s.sample);
        if let Some(w) = self.states.as_mut() {
            if let Err(err) = w.write(&StateRow::new(self.epoch, s)) {
                self.keep(STATES_FILE, err);
            }
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
