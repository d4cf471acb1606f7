//! One explicit Euler step of a layer whose neurons share their coefficients, sixteen
//! neurons to a 512-bit register: [`super::step`]'s sweep where the build has AVX-512F, which
//! the compiler, preferring 256-bit vectors, does not use by itself. Every lane takes the
//! scalar kernel's operations in the same order (products and sums rounded one at a time,
//! the clamp a select that keeps NaN and −0), so the bits are those of the portable sweep.

use std::any::TypeId;
use std::arch::x86_64::*;

use super::Ports;
use crate::neuron::kernel::{inh, src};
use crate::neuron::{Coefficients, ELEMENTS};
use crate::real::Real;

/// `T` as `f32`, when it is `f32`.
fn as_f32<T: 'static>(v: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is `f32` (checked), so the slice's layout is that of `[f32]`.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) })
}

fn as_f32_mut<T: 'static>(v: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as `as_f32`.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) })
}

/// Steps `samples` rows of `n` neurons (`x` relabelled with the input at element 0, `c`
/// likewise) and writes their output signal and integral, as `super::rows` does for the
/// Euler scheme. Returns `false`, having done nothing, unless `T` is `f32`.
#[allow(clippy::too_many_arguments)]
pub(super) fn step<T: Real, const REV: bool>(
    c: &Coefficients<T>,
    x: &mut [&mut [T]; ELEMENTS],
    (n, samples): (usize, usize),
    ports: &mut Ports<'_, T>,
    dt: T,
    clamp: bool,
) -> bool {
    let out = (ports.output + ELEMENTS - ports.input) % ELEMENTS;
    let [x0, x1, x2, x3, x4] = x;
    let (Some(x0), Some(x1), Some(x2), Some(x3), Some(x4)) = (
        as_f32_mut(x0),
        as_f32_mut(x1),
        as_f32_mut(x2),
        as_f32_mut(x3),
        as_f32_mut(x4),
    ) else {
        return false;
    };
    let (Some(current), Some(reference), Some(signal), Some(integral)) = (
        as_f32(ports.current),
        as_f32(ports.reference),
        as_f32_mut(ports.signal),
        as_f32_mut(ports.integral),
    ) else {
        return false;
    };
    let f = |v: T| v.to_f64() as f32;
    let c = Coefficients {
        gen: c.gen.map(f),
        decay: c.decay.map(f),
        inhib: c.inhib.map(f),
    };
    let len = samples * n;
    assert!(
        [x1.len(), x2.len(), x3.len(), x4.len(), x0.len()]
            .iter()
            .all(|&l| l >= len)
            && current.len() >= len
            && signal.len() >= len
            && integral.len() >= len
            && reference.len() >= n,
        "a layer's state, drive and outputs hold every (row, neuron)"
    );
    // SAFETY: the build has AVX-512F (the module's cfg); the slices hold `len` values (and
    // `reference` `n`), which every access below stays within.
    unsafe {
        sweep::<REV>(
            &c,
            [x0, x1, x2, x3, x4].map(|v| v.as_mut_ptr()),
            (n, samples, out),
            (current.as_ptr(), reference.as_ptr()),
            (signal.as_mut_ptr(), integral.as_mut_ptr()),
            (f(dt), clamp),
        );
    }
    true
}

/// # Safety
/// AVX-512F; `x`, `current`, `signal` and `integral` point at `n * samples` values,
/// `reference` at `n`.
#[target_feature(enable = "avx512f")]
unsafe fn sweep<const REV: bool>(
    c: &Coefficients<f32>,
    x: [*mut f32; ELEMENTS],
    (n, samples, out): (usize, usize, usize),
    (current, reference): (*const f32, *const f32),
    (signal, integral): (*mut f32, *mut f32),
    (dt, clamp): (f32, bool),
) {
    let splat = |v: [f32; ELEMENTS]| v.map(|v| _mm512_set1_ps(v));
    let (gen, decay, inhib) = (splat(c.gen), splat(c.decay), splat(c.inhib));
    let (dt, zero) = (_mm512_set1_ps(dt), _mm512_setzero_ps());
    for r in 0..samples {
        let mut j = 0;
        while j < n {
            let mask: __mmask16 = if n - j >= 16 { !0 } else { (1 << (n - j)) - 1 };
            let at = r * n + j;
            // SAFETY (all loads and stores): lanes past `n` are masked off.
            let load = |p: *const f32| unsafe { _mm512_maskz_loadu_ps(mask, p) };
            let xs: [__m512; ELEMENTS] = std::array::from_fn(|e| load(x[e].add(at)));
            let u = load(current.add(at));
            let next: [__m512; ELEMENTS] = std::array::from_fn(|i| {
                let drive = _mm512_mul_ps(gen[i], xs[src(i, REV)]);
                let produce = if i == 0 {
                    _mm512_add_ps(drive, u)
                } else {
                    drive
                };
                let loss = _mm512_add_ps(decay[i], _mm512_mul_ps(inhib[i], xs[inh(i, REV)]));
                let rate = _mm512_sub_ps(produce, _mm512_mul_ps(loss, xs[i]));
                let v = _mm512_add_ps(xs[i], _mm512_mul_ps(dt, rate));
                if clamp {
                    let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero);
                    _mm512_mask_blend_ps(negative, v, zero)
                } else {
                    v
                }
            });
            for (e, &v) in next.iter().enumerate() {
                _mm512_mask_storeu_ps(x[e].add(at), mask, v);
            }
            let s = _mm512_sub_ps(next[out], load(reference.add(j)));
            _mm512_mask_storeu_ps(signal.add(at), mask, s);
            let total = _mm512_add_ps(load(integral.add(at)), _mm512_mul_ps(dt, s));
            _mm512_mask_storeu_ps(integral.add(at), mask, total);
            j += 16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{rotate, rotated, rows, Ports, Shared, Stepping};
    use crate::neuron::kernel::EULER;
    use crate::neuron::{Coefficients, Integrator, ELEMENTS};

    /// The 512-bit sweep gives the portable sweep's bits: both systems, with and without the
    /// clamp, every port pair, rows of one to three samples and layers that end in a full
    /// register, a part of one and a single lane, states that go negative, NaN and −0.
    #[test]
    fn the_512_bit_sweep_is_the_portable_one_bit_for_bit() {
        let c = Coefficients {
            gen: [2.0, 1.5, 0.7, 2.2, 1.1],
            decay: [1.0, 0.9, 1.3, 0.6, 1.2],
            inhib: [1.0, 0.8, 1.4, 0.5, 0.9],
        };
        let value = |k: usize| ((k * 7919 % 1000) as f32 / 250.0 - 1.5) * 1.7;
        let mut clamped = false;
        for (n, samples) in [(1, 1), (15, 2), (16, 1), (17, 3), (300, 1)] {
            let len = n * samples;
            for (rev, clamp, input, output) in [
                (false, true, 0, 1),
                (true, true, 1, 0),
                (false, false, 3, 2),
                (true, false, 4, 4),
            ] {
                let mut x: [Vec<f32>; ELEMENTS] =
                    std::array::from_fn(|e| (0..len).map(|k| value(k * 5 + e)).collect());
                x[2][0] = f32::NAN;
                x[3][len - 1] = -0.0;
                let current: Vec<f32> = (0..len).map(|k| value(k + 11) * 0.3).collect();
                let reference: Vec<f32> = (0..n).map(|j| value(j + 3)).collect();
                let run = |simd: bool| {
                    let mut x = x.clone();
                    let (mut signal, mut integral) = (vec![0.0f32; len], vec![0.25f32; len]);
                    let mut xs = rotated(&mut x, input);
                    let rates = Shared(rotate(&c, input));
                    let mut ports = Ports {
                        input,
                        current: &current,
                        output,
                        reference: &reference,
                        signal: &mut signal,
                        integral: &mut integral,
                    };
                    let shape = (n, samples);
                    let how = Stepping {
                        integrator: Integrator::Euler,
                        dt: 0.1,
                        clamp,
                    };
                    match (simd, rev) {
                        (true, false) => {
                            assert!(super::step::<f32, false>(
                                &rates.0, &mut xs, shape, &mut ports, 0.1, clamp
                            ))
                        }
                        (true, true) => {
                            assert!(super::step::<f32, true>(
                                &rates.0, &mut xs, shape, &mut ports, 0.1, clamp
                            ))
                        }
                        (false, false) => {
                            rows::<f32, false, EULER, false, _>(&rates, xs, shape, ports, how);
                        }
                        (false, true) => {
                            rows::<f32, true, EULER, false, _>(&rates, xs, shape, ports, how);
                        }
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    let state: Vec<_> = x.iter().map(|v| bits(v)).collect();
                    (state, bits(&signal), bits(&integral))
                };
                let (fast, portable) = (run(true), run(false));
                assert!(
                    fast == portable,
                    "n {n}, samples {samples}, rev {rev}, clamp {clamp}"
                );
                clamped |= clamp && portable.0.iter().flatten().any(|&b| b == 0);
            }
        }
        assert!(clamped, "the clamp set some element to zero");
    }

    /// Not `f32`: nothing is done, and the caller takes the portable sweep.
    #[test]
    fn other_types_are_left_to_the_portable_sweep() {
        let c = Coefficients::<f64> {
            gen: [1.0; ELEMENTS],
            decay: [1.0; ELEMENTS],
            inhib: [1.0; ELEMENTS],
        };
        let mut x: [Vec<f64>; ELEMENTS] = std::array::from_fn(|_| vec![0.5; 4]);
        let mut xs = rotated(&mut x, 0);
        let (current, reference) = (vec![0.0; 4], vec![0.0; 4]);
        let (mut signal, mut integral) = (vec![0.0; 4], vec![0.0; 4]);
        let mut ports = Ports {
            input: 0,
            current: &current,
            output: 1,
            reference: &reference,
            signal: &mut signal,
            integral: &mut integral,
        };
        assert!(!super::step::<f64, false>(
            &c,
            &mut xs,
            (4, 1),
            &mut ports,
            0.1,
            true
        ));
        assert_eq!(x[0], vec![0.5; 4]);
    }
}
