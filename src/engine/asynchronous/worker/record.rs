//! Trace records: a traced sample's events and states as the worker's actors produce them,
//! keyed so that the engine can hand them to the sink in one order at any thread count.

use super::Shared;
use crate::engine::asynchronous::actor::SystemState;
use crate::trace::{StateSample, Wave, WaveEvent};

/// A recorded event or state, with the key that orders records whatever the partition.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// (step, global neuron id, wave: 0 forward / 1 backward, 0 event / 1 state): unique.
    pub key: (u64, u32, u8, u8),
    pub item: RecordItem,
}

#[derive(Debug, Clone, Copy)]
pub enum RecordItem {
    Event(WaveEvent),
    State(StateSample),
}

/// Records an actor's event (`sent`) and, every `every` steps of its window, its state,
/// if its sample is traced. Times are from the sample's start.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    out: &mut Vec<Record>,
    sh: &Shared<'_>,
    wave: Wave,
    layer: usize,
    neuron: usize,
    gid: u32,
    step: u64,
    system: &SystemState,
    sent: Option<f32>,
    signal: f32,
) {
    let Some(sel) = sh.trace else { return };
    let Some(slot) = system.window else { return };
    // A slot's previous occupant may still be listed: the newest sample already started.
    let Some(smp) = sh
        .samples
        .iter()
        .rev()
        .find(|s| s.slot == slot && s.start < step)
    else {
        return;
    };
    if !smp.train || !sel.wants_sample(smp.index) || !sel.wants_wave(wave) {
        return;
    }
    let time = crate::trace::step_time(
        (step - smp.start) as usize,
        crate::trace::decimal(sh.settings.dt),
    );
    if let (Some(value), true) = (sent, sel.events) {
        out.push(Record {
            key: (step, gid, wave as u8, 0),
            item: RecordItem::Event(WaveEvent {
                time,
                sample: smp.index,
                layer,
                neuron,
                wave,
                value,
            }),
        });
    }
    let opened = system.closes
        - match wave {
            Wave::Forward => sh.timing.forward,
            Wave::Backward => sh.timing.backward,
        };
    if sel.states && (step - opened).is_multiple_of(sel.every.max(1) as u64) {
        out.push(Record {
            key: (step, gid, wave as u8, 1),
            item: RecordItem::State(StateSample {
                time,
                sample: smp.index,
                layer,
                neuron,
                wave,
                signal,
                elements: system.x,
            }),
        });
    }
}
