//! `waves.vcd`: the send-on-delta events as a value change dump, one `real` signal per
//! recorded neuron and wave, so that GTKWave or Surfer show the forward and backward waves
//! like a logic analyser would.
//!
//! Layout: scope `bsp` holds an `integer` signal `sample` (the dataset index of the
//! presentation on screen) and modules `forward` and `backward`, each with a module
//! `layer<l>` holding a `real` signal `n<j>` per recorded neuron: the value of its last
//! event (D or D̂), so the curve is the receiver's view of the signal.
//!
//! Time: one VCD tick is 0.001 model time units (`$timescale 1 ms`, reading model time as
//! seconds). Presentations are laid end to end: the k-th recorded presentation starts at
//! k · (T + T_b); at its start every signal returns to 0 (rest). Changes are buffered per
//! minibatch and written sorted by time, so an engine whose presentations overlap may call
//! in any order within a flush.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use ::vcd::{IdCode, TimescaleUnit, VarType};

use super::{Selection, Wave};

/// Model time units per VCD tick.
pub const TICK: f64 = 0.001;

/// Converts model time to VCD ticks.
pub fn ticks(time: f64) -> u64 {
    (time / TICK).round().max(0.0) as u64
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Real(IdCode, f64),
    Sample(u64),
}

/// A streaming VCD writer over a fixed set of signals.
pub struct VcdStream {
    w: ::vcd::Writer<BufWriter<File>>,
    ids: HashMap<(Wave, usize, usize), IdCode>,
    sample_id: IdCode,
    /// (tick, arrival order, change) not yet written.
    pending: Vec<(u64, u64, Change)>,
    arrivals: u64,
    last_tick: Option<u64>,
    changes: u64,
}

impl VcdStream {
    /// Creates `path` and writes the header declaring a signal per recorded neuron and wave.
    pub fn create(path: &Path, sel: &Selection, comment: &str) -> std::io::Result<Self> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let mut w = ::vcd::Writer::new(file);
        w.comment(comment)?;
        w.version(concat!("bsp-sim ", env!("CARGO_PKG_VERSION")))?;
        w.timescale(1, TimescaleUnit::MS)?;
        w.add_module("bsp")?;
        let sample_id = w.add_var(VarType::Integer, 32, "sample", None)?;
        let mut ids = HashMap::new();
        for wave in sel.waves.iter().copied() {
            w.add_module(wave.as_str())?;
            for (l, ns) in sel.neurons.iter().enumerate() {
                if ns.is_empty() {
                    continue;
                }
                w.add_module(&format!("layer{l}"))?;
                for &j in ns {
                    let id = w.add_var(VarType::Real, 64, &format!("n{j}"), None)?;
                    ids.insert((wave, l, j), id);
                }
                w.upscope()?;
            }
            w.upscope()?;
        }
        w.upscope()?;
        w.enddefinitions()?;
        Ok(VcdStream {
            w,
            ids,
            sample_id,
            pending: Vec::new(),
            arrivals: 0,
            last_tick: None,
            changes: 0,
        })
    }

    fn push(&mut self, tick: u64, change: Change) {
        self.pending.push((tick, self.arrivals, change));
        self.arrivals += 1;
    }

    /// A presentation of `sample` starting at `start` (model time on the VCD timeline):
    /// shows the sample id and puts every signal back to rest.
    pub fn presentation(&mut self, start: f64, sample: usize) {
        let tick = ticks(start);
        self.push(tick, Change::Sample(sample as u64));
        let mut ids: Vec<IdCode> = self.ids.values().copied().collect();
        ids.sort();
        for id in ids {
            self.push(tick, Change::Real(id, 0.0));
        }
    }

    /// An event of (`wave`, `layer`, `neuron`) at `time` on the VCD timeline; ignored for a
    /// signal that was not declared.
    pub fn event(&mut self, time: f64, wave: Wave, layer: usize, neuron: usize, value: f32) {
        if let Some(&id) = self.ids.get(&(wave, layer, neuron)) {
            self.push(ticks(time), Change::Real(id, value as f64));
        }
    }

    /// Value changes written so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Writes the buffered changes in time order and flushes the file. A change older than
    /// one already written (possible only if an engine's presentations span two flushes)
    /// is written at the last written time, since VCD time cannot go back.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.pending.sort_by_key(|&(t, seq, _)| (t, seq));
        for &(tick, _, change) in &self.pending {
            let tick = self.last_tick.map_or(tick, |last| tick.max(last));
            if self.last_tick != Some(tick) {
                self.w.timestamp(tick)?;
                self.last_tick = Some(tick);
            }
            match change {
                Change::Real(id, v) => self.w.change_real(id, v)?,
                Change::Sample(s) => self.w.change_vector(self.sample_id, id_bits(s))?,
            }
            self.changes += 1;
        }
        self.pending.clear();
        self.w.flush()?;
        self.w.writer().flush()
    }

    /// The file's length and the value changes in it, as of the last [`VcdStream::flush`].
    pub fn extent(&mut self) -> std::io::Result<(u64, u64)> {
        Ok((self.w.writer().get_ref().metadata()?.len(), self.changes))
    }
}

/// The 32 bits of `v`, most significant first.
fn id_bits(v: u64) -> impl Iterator<Item = ::vcd::Value> {
    (0..32).rev().map(move |b| {
        if (v >> b) & 1 == 1 {
            ::vcd::Value::V1
        } else {
            ::vcd::Value::V0
        }
    })
}
