//! The Wuxing neuron against hand-derived and measured values (bsp-model.md §1).

use bsp_sim::neuron::{
    fixed_point, response, Coefficients, Element, Integrator, NeuronParams, System,
};

fn uniform(k1: f32, k2: f32, k3: f32, input: Element, output: Element) -> NeuronParams {
    NeuronParams::new([k1; 5], [k2; 5], [k3; 5], input, output, true).expect("valid rates")
}

/// Rates that differ from element to element, so that a kernel confusing one element's
/// rate with another's shows.
fn varied(input: Element, output: Element) -> NeuronParams {
    let k1 = [2.0, 2.1, 1.9, 2.05, 1.95];
    let k2 = [1.0, 1.05, 0.95, 1.0, 1.02];
    let k3 = [1.0, 1.1, 0.9, 1.0, 1.05];
    NeuronParams::new(k1, k2, k3, input, output, true).expect("valid rates")
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn measured_single_neuron_means_at_s_for_current_into_j() {
    let p = uniform(2.0, 1.0, 1.0, Element::J, Element::S);
    for (a, expected) in [(-1.0, -0.388), (0.1, 0.041), (1.0, 0.445), (5.0, 3.254)] {
        let d = response(&p, System::Forward, a, 0.01, 1000, Integrator::Euler);
        let m = mean(&d);
        assert!(
            (m - expected).abs() < 1e-3,
            "a = {a}: mean D = {m}, expected {expected}"
        );
    }
}

#[test]
fn uniform_fixed_point_is_k1_minus_k2_over_k3() {
    for (k1, k2, k3) in [(2.0, 1.0, 1.0), (3.0, 1.0, 0.5), (1.5, 0.5, 2.0)] {
        let b0 = (k1 - k2) / k3;
        for system in [System::Forward, System::Reversed] {
            let x = fixed_point(system, [k1; 5], [k2; 5], [k3; 5]).unwrap();
            for v in x {
                assert!((v - b0).abs() < 1e-6, "{system:?}: {v} != {b0}");
            }
        }
    }
}

#[test]
fn non_uniform_fixed_point_is_a_rest_state() {
    let (k1, k2, k3) = (
        [2.0, 2.2, 1.8, 2.5, 2.1],
        [1.0, 0.9, 1.1, 1.0, 0.8],
        [1.0, 1.3, 0.7, 1.1, 0.9],
    );
    for system in [System::Forward, System::Reversed] {
        let x = fixed_point(system, k1, k2, k3).unwrap();
        let c = Coefficients::new(system, k1, k2, k3);
        let d = c.derivative(system, &x, &[0.0; 5]);
        assert!(x.iter().all(|&v| v > 0.0));
        assert!(
            d.iter().all(|v| v.abs() < 1e-5),
            "{system:?}: derivative at rest {d:?}"
        );
    }
}

#[test]
fn no_positive_fixed_point_when_k1_not_above_k2() {
    let err = fixed_point(System::Forward, [1.0; 5], [1.0; 5], [1.0; 5]).unwrap_err();
    assert!(err.contains("k1 > k2"), "{err}");
    assert!(NeuronParams::new([0.5; 5], [1.0; 5], [1.0; 5], Element::J, Element::S, true).is_err());
}

#[test]
fn forward_j_to_x_equals_reversed_x_to_j() {
    for out in [Element::S, Element::M, Element::H, Element::T] {
        let p = uniform(2.0, 1.0, 1.0, Element::J, out);
        for a in [-1.0, 0.1, 1.0, 5.0] {
            let f = response(&p, System::Forward, a, 0.01, 1000, Integrator::Euler);
            let r = response(&p, System::Reversed, a, 0.01, 1000, Integrator::Euler);
            let diff = f
                .iter()
                .zip(&r)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(
                diff < 1e-5,
                "J->{out} vs reversed {out}->J at a = {a}: max diff {diff}"
            );
        }
    }
}

#[test]
fn rk4_agrees_with_fine_euler() {
    let p = uniform(2.0, 1.0, 1.0, Element::J, Element::S);
    let rk = response(&p, System::Forward, 1.0, 0.1, 100, Integrator::Rk4);
    let eu = response(&p, System::Forward, 1.0, 0.001, 10_000, Integrator::Euler);
    let (a, b) = (rk[99], eu[9_999]);
    assert!((a - b).abs() < 2e-3, "rk4 {a} vs fine euler {b}");
}

#[test]
fn linear_decay_without_coupling_matches_exponential() {
    // With k1 and k3 tiny, an element decays as exp(-k2 t) toward (almost) zero rest.
    let c = Coefficients::new(System::Forward, [0.0; 5], [1.0; 5], [0.0; 5]);
    let mut x = [1.0f32; 5];
    for _ in 0..100 {
        x = bsp_sim::neuron::step_one(
            &c,
            System::Forward,
            &x,
            &[0.0; 5],
            0.01,
            Integrator::Rk4,
            true,
        );
    }
    let expected = (-1.0f32).exp();
    assert!((x[0] - expected).abs() < 1e-6, "{} vs {expected}", x[0]);
}

/// The batched layer kernel agrees with the single-neuron integrator for every scheme, both
/// systems, shared and per-neuron coefficients.
#[test]
fn layer_kernel_matches_single_neuron_steps() {
    for (input, output) in [(Element::J, Element::M), (Element::H, Element::S)] {
        layer_kernel_matches_single_neuron_steps_for(uniform(2.0, 1.0, 1.0, input, output));
        layer_kernel_matches_single_neuron_steps_for(varied(input, output));
    }
}

fn layer_kernel_matches_single_neuron_steps_for(p: NeuronParams) {
    use bsp_sim::neuron::layer::{step, LayerCoefficients, LayerState, Ports, Stepping};
    let (rows, n, dt) = (3, 4, 0.05);
    for integrator in [Integrator::Euler, Integrator::Rk4, Integrator::SemiImplicit] {
        for system in [System::Forward, System::Reversed] {
            for per_neuron in [false, true] {
                let mut coef = LayerCoefficients::uniform(&p.coefficients(system), n);
                let mut singles = vec![p.coefficients(system); n];
                if per_neuron {
                    let k3 = [1.0, 1.3, 0.8, 1.1, 0.9];
                    singles[2] = Coefficients::new(system, p.k1, p.k2, k3);
                    coef.set(2, &singles[2]);
                    assert!(coef.shared().is_none());
                }
                let (pin, pout) = match system {
                    System::Forward => (p.input.index(), p.output.index()),
                    System::Reversed => (p.output.index(), p.input.index()),
                };
                let rest = match system {
                    System::Forward => p.rest,
                    System::Reversed => p.rest_reversed,
                };
                let mut state = LayerState::new(rows, n);
                state.reset(&rest.map(|v| vec![v; n]));
                let current: Vec<f32> = (0..rows * n)
                    .map(|k| (k as f32 * 0.37).sin() * 2.0)
                    .collect();
                let reference = vec![rest[pout]; n];
                let (mut signal, mut integral) = (vec![0.0; rows * n], vec![0.0; rows * n]);
                let mut x = vec![rest; rows * n];
                for _ in 0..20 {
                    let ports = Ports {
                        input: pin,
                        current: &current,
                        output: pout,
                        reference: &reference,
                        signal: &mut signal,
                        integral: &mut integral,
                    };
                    step(
                        system,
                        &coef,
                        &mut state,
                        ports,
                        Stepping {
                            integrator,
                            dt,
                            clamp: true,
                        },
                    );
                    for (k, xk) in x.iter_mut().enumerate() {
                        let mut u = [0.0; 5];
                        u[pin] = current[k];
                        *xk = bsp_sim::neuron::step_one(
                            &singles[k % n],
                            system,
                            xk,
                            &u,
                            dt,
                            integrator,
                            true,
                        );
                    }
                }
                for k in 0..rows * n {
                    for e in 0..5 {
                        let (a, b) = (state.x[e][k], x[k][e]);
                        assert!((a - b).abs() < 1e-5, "{integrator:?} {system:?} per-neuron {per_neuron}: [{k}][{e}] {a} vs {b}");
                    }
                    assert!((signal[k] - (x[k][pout] - rest[pout])).abs() < 1e-5);
                }
            }
        }
    }
}

/// A span of steps taken at once (`layer::steps`, each block of neurons in registers) gives
/// bit for bit the states, per-step signals and integral of as many single steps: for every
/// scheme, both systems, shared and per-neuron coefficients, clamped or not, every pair of
/// input and output elements, a drive per step or held, and a layer whose width leaves a
/// partial last block.
#[test]
fn span_of_steps_is_bitwise_the_single_steps() {
    use bsp_sim::neuron::layer::{
        step, steps, Drive, LayerCoefficients, LayerState, Ports, Stepping,
    };
    let (rows, n, span, dt) = (2, 37, 7, 0.05);
    let width = rows * n;
    let elements = [Element::J, Element::S, Element::M, Element::H, Element::T];
    for integrator in [Integrator::Euler, Integrator::Rk4, Integrator::SemiImplicit] {
        for system in [System::Forward, System::Reversed] {
            for (per_neuron, clamp, held) in [
                (false, true, false),
                (true, false, true),
                (true, true, false),
            ] {
                for input in elements {
                    for output in elements.into_iter().filter(|&e| e != input) {
                        let p = varied(input, output);
                        let mut coef = LayerCoefficients::uniform(&p.coefficients(system), n);
                        if per_neuron {
                            for j in (0..n).step_by(5) {
                                let k3 = [1.0, 1.0 + j as f32 * 0.01, 0.8, 1.1, 0.9];
                                coef.set(j, &Coefficients::new(system, p.k1, p.k2, k3));
                            }
                        }
                        let rest = match system {
                            System::Forward => p.rest,
                            System::Reversed => p.rest_reversed,
                        };
                        let (pin, pout) = match system {
                            System::Forward => (input.index(), output.index()),
                            System::Reversed => (output.index(), input.index()),
                        };
                        let reference: Vec<f32> =
                            (0..n).map(|j| rest[pout] + j as f32 * 1e-3).collect();
                        let layers = if held { 1 } else { span };
                        let current: Vec<f32> = (0..layers * width)
                            .map(|k| (k as f32 * 0.37).sin() * 3.0)
                            .collect();
                        let how = Stepping {
                            integrator,
                            dt,
                            clamp,
                        };
                        let mut one = LayerState::new(rows, n);
                        one.reset(&rest.map(|v| vec![v; n]));
                        let mut all = one.clone();
                        let (mut int_one, mut int_all) = (vec![0.5; width], vec![0.5; width]);
                        let mut sig_one = vec![0.0; span * width];
                        for i in 0..span {
                            let d = if held { 0 } else { i * width };
                            let ports = Ports {
                                input: pin,
                                current: &current[d..d + width],
                                output: pout,
                                reference: &reference,
                                signal: &mut sig_one[i * width..(i + 1) * width],
                                integral: &mut int_one,
                            };
                            step(system, &coef, &mut one, ports, how);
                        }
                        let mut sig_all = vec![0.0; span * width];
                        let ports = Ports {
                            input: pin,
                            current: &current,
                            output: pout,
                            reference: &reference,
                            signal: &mut sig_all,
                            integral: &mut int_all,
                        };
                        let drive = if held { Drive::Held } else { Drive::PerStep };
                        steps(system, &coef, &mut all, ports, how, (span, drive));
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        let case = format!("{integrator:?} {system:?} per-neuron {per_neuron} clamp {clamp} held {held} {input:?}->{output:?}");
                        for e in 0..5 {
                            assert_eq!(bits(&all.x[e]), bits(&one.x[e]), "{case}: element {e}");
                        }
                        assert_eq!(bits(&sig_all), bits(&sig_one), "{case}: signal");
                        assert_eq!(bits(&int_all), bits(&int_one), "{case}: integral");
                        assert!(
                            sig_one.iter().any(|&s| s != 0.0),
                            "{case}: the drive moved nothing"
                        );
                    }
                }
            }
        }
    }
}

/// Two systems' coefficients hold the same bits exactly when every value has them: equal
/// values do, one changed value does not, and where `==` and the bits disagree (NaN, −0)
/// the bits decide (a cache built from one serves the other only if they do).
#[test]
fn same_bits_is_bit_equality_of_every_coefficient() {
    let a = Coefficients::new(System::Forward, [2.0; 5], [1.0; 5], [1.0; 5]);
    assert!(a.same_bits(&Coefficients::new(
        System::Forward,
        [2.0; 5],
        [1.0; 5],
        [1.0; 5]
    )));
    for field in 0..3 {
        for e in 0..5 {
            let mut b = a;
            let v = match field {
                0 => &mut b.gen,
                1 => &mut b.decay,
                _ => &mut b.inhib,
            };
            v[e] = f32::from_bits(v[e].to_bits() ^ 1);
            assert!(!a.same_bits(&b), "field {field}, element {e}");
        }
    }
    let (mut nan, mut zero, mut minus) = (a, a, a);
    nan.inhib[2] = f32::NAN;
    assert!(nan != nan && nan.same_bits(&nan));
    zero.decay[0] = 0.0;
    minus.decay[0] = -0.0;
    assert!(zero == minus && !zero.same_bits(&minus));
}
