//! The CSV trace files, one row per record, with a header row, readable by pandas as is
//! (`pandas.read_csv("events.csv")`).
//!
//! `events.csv`: `epoch,sample,time,layer,neuron,wave,value` — one send-on-delta event: in
//! training epoch `epoch` (1-based), dataset sample `sample`, the output deviation of
//! `neuron` of `layer` in `wave` (`forward`: D, `backward`: D̂) had moved by at least theta
//! since its previous event and was `value` at presentation time `time`.
//!
//! `states.csv`: `epoch,sample,time,layer,neuron,wave,signal,J,S,M,H,T` — the five elements
//! of the system integrated in `wave` (forward system in the forward window, reversed system
//! in the backward window) and its output deviation, every k steps.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{StateSample, Wave, WaveEvent};

/// A row of `events.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub epoch: usize,
    pub sample: usize,
    pub time: f64,
    pub layer: usize,
    pub neuron: usize,
    pub wave: Wave,
    pub value: f32,
}

impl EventRow {
    pub fn new(epoch: usize, e: &WaveEvent) -> Self {
        EventRow {
            epoch,
            sample: e.sample,
            time: e.time,
            layer: e.layer,
            neuron: e.neuron,
            wave: e.wave,
            value: e.value,
        }
    }

    pub fn event(&self) -> WaveEvent {
        WaveEvent {
            time: self.time,
            sample: self.sample,
            layer: self.layer,
            neuron: self.neuron,
            wave: self.wave,
            value: self.value,
        }
    }
}

/// A row of `states.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StateRow {
    pub epoch: usize,
    pub sample: usize,
    pub time: f64,
    pub layer: usize,
    pub neuron: usize,
    pub wave: Wave,
    pub signal: f32,
    #[serde(rename = "J")]
    pub j: f32,
    #[serde(rename = "S")]
    pub s: f32,
    #[serde(rename = "M")]
    pub m: f32,
    #[serde(rename = "H")]
    pub h: f32,
    #[serde(rename = "T")]
    pub t: f32,
}

impl StateRow {
    pub fn new(epoch: usize, s: &StateSample) -> Self {
        let [j, s_, m, h, t] = s.elements;
        StateRow {
            epoch,
            sample: s.sample,
            time: s.time,
            layer: s.layer,
            neuron: s.neuron,
            wave: s.wave,
            signal: s.signal,
            j,
            s: s_,
            m,
            h,
            t,
        }
    }

    pub fn elements(&self) -> [f32; 5] {
        [self.j, self.s, self.m, self.h, self.t]
    }
}

/// A streaming CSV writer of rows of type `R` (header written with the first row).
pub struct CsvStream {
    inner: ::csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl CsvStream {
    /// Creates `path`, truncating it, and writes `header` so that even an empty trace
    /// has its columns.
    pub fn create(path: &Path, header: &[&str]) -> std::io::Result<Self> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let mut inner = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        inner.write_record(header).map_err(into_io)?;
        Ok(CsvStream { inner, rows: 0 })
    }

    pub fn write<R: Serialize>(&mut self, row: &R) -> std::io::Result<()> {
        self.rows += 1;
        self.inner.serialize(row).map_err(into_io)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Pushes buffered rows to the file (csv's flush also flushes the `BufWriter`).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// The file's length and rows (header excluded), as of the last [`CsvStream::flush`]:
    /// every row counted is then whole in the file.
    pub fn extent(&self) -> std::io::Result<(u64, u64)> {
        Ok((self.inner.get_ref().get_ref().metadata()?.len(), self.rows))
    }
}

pub const EVENT_HEADER: [&str; 7] = [
    "epoch", "sample", "time", "layer", "neuron", "wave", "value",
];
pub const STATE_HEADER: [&str; 12] = [
    "epoch", "sample", "time", "layer", "neuron", "wave", "signal", "J", "S", "M", "H", "T",
];

fn into_io(e: ::csv::Error) -> std::io::Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Streams the complete rows of a trace CSV file (`events.csv` or `states.csv`) without
/// loading it whole; the error names the file and the line. Only whole lines count: the
/// file is read up to its last newline, and no further than `limit` bytes (the manifest's
/// record of what was complete at the last flush), so a row cut by a killed writer or a
/// full disk is never read as a (wrong) value.
pub fn rows<R: for<'de> Deserialize<'de>>(
    path: &Path,
    limit: Option<u64>,
) -> Result<impl Iterator<Item = Result<R, String>>, String> {
    let shown = path.display().to_string();
    let whole = complete_len(path, limit).map_err(|e| format!("{shown}: {e}"))?;
    let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let rd = ::csv::Reader::from_reader(BufReader::new(file.take(whole)));
    Ok(rd
        .into_deserialize()
        .map(move |r: Result<R, ::csv::Error>| r.map_err(|e| format!("{shown}: {e}"))))
}

/// The length of the file's whole lines: up to and including its last newline, within the
/// first `limit` bytes when given.
pub fn complete_len(path: &Path, limit: Option<u64>) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let end = limit.map_or(len, |l| l.min(len));
    // Look back for the last newline, a block at a time.
    let mut pos = end;
    let mut block = vec![0u8; 1 << 16];
    while pos > 0 {
        let start = pos.saturating_sub(block.len() as u64);
        let n = (pos - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Reads the whole rows of `events.csv` (see [`rows`]).
pub fn read_events(path: &Path) -> Result<Vec<EventRow>, String> {
    rows(path, None)?.collect()
}

/// Reads the whole rows of `states.csv` (see [`rows`]).
pub fn read_states(path: &Path) -> Result<Vec<StateRow>, String> {
    rows(path, None)?.collect()
}
