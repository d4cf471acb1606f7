//! Reading the real MNIST and Fashion-MNIST files, found as `bsp-sim` finds them.

use bsp_sim::data::{load, DataSearch, Dataset, DatasetName};
use bsp_sim::progress::NoProgress;

use crate::common::data_root;

fn load_real(name: DatasetName) -> bsp_sim::data::Split {
    let search = DataSearch {
        env_dir: Some(data_root()),
        ..DataSearch::default()
    };
    load(name, &search, false, &NoProgress)
        .unwrap_or_else(|e| panic!("loading {name} from {} failed: {e}", data_root().display()))
}

fn histogram(d: &Dataset) -> [usize; 10] {
    let mut h = [0; 10];
    for &l in &d.labels {
        h[usize::from(l)] += 1;
    }
    h
}

fn check_shape(d: &Dataset, n: usize) {
    assert_eq!(d.len(), n);
    assert!(!d.is_empty());
    assert_eq!(d.dim, 784);
    assert_eq!(d.classes, 10);
    assert_eq!(d.images.len(), n * 784);
    assert_eq!(d.image(n - 1).len(), 784);
    assert!(d.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
    // Both data sets use the full intensity range; all-zero or unscaled data would not.
    let max = d.images.iter().cloned().fold(0.0f32, f32::max);
    assert_eq!(max, 1.0);
}

fn mean(d: &Dataset) -> f64 {
    d.images.iter().map(|&p| f64::from(p)).sum::<f64>() / d.images.len() as f64
}

#[test]
fn mnist_is_read_from_bsp_sim_data() {
    let split = load_real(DatasetName::Mnist);
    check_shape(&split.train, 60_000);
    check_shape(&split.test, 10_000);
    assert_eq!(split.train.name, "mnist");
    assert_eq!(
        split.train.labels[0], 5,
        "the first MNIST training digit is a 5"
    );
    assert_eq!(split.test.labels[0], 7, "the first MNIST test digit is a 7");
    // Published class counts: training 5421..=6742 per digit, test 892..=1135.
    let (train, test) = (histogram(&split.train), histogram(&split.test));
    assert_eq!(train[1], 6742);
    assert_eq!(test[5], 892);
    assert!(
        train.iter().all(|&c| (5421..=6742).contains(&c)),
        "{train:?}"
    );
    assert!(test.iter().all(|&c| (892..=1135).contains(&c)), "{test:?}");
    // The well-known MNIST mean intensity is 0.1307.
    assert!((mean(&split.train) - 0.1307).abs() < 0.001);
}

#[test]
fn fashion_mnist_is_read_from_bsp_sim_data() {
    let split = load_real(DatasetName::FashionMnist);
    check_shape(&split.train, 60_000);
    check_shape(&split.test, 10_000);
    assert_eq!(split.train.name, "fashion-mnist");
    assert_eq!(histogram(&split.train), [6000; 10]);
    assert_eq!(histogram(&split.test), [1000; 10]);
    assert_eq!(
        split.train.labels[0], 9,
        "the first Fashion-MNIST item is an ankle boot"
    );
    assert!((mean(&split.train) - 0.2860).abs() < 0.001);
}

#[test]
fn image_and_truncate_address_the_right_samples() {
    let mut train = load_real(DatasetName::Mnist).train;
    let third = train.image(2).to_vec();
    train.truncate(3);
    assert_eq!(train.len(), 3);
    assert_eq!(train.images.len(), 3 * 784);
    assert_eq!(train.image(2), &third[..]);
    train.truncate(10);
    assert_eq!(train.len(), 3, "truncate never grows the set");
    train.truncate(0);
    assert!(train.is_empty());
}

#[test]
fn from_environment_searches_in_order() {
    let env = std::env::var_os("BSP_SIM_DATA")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    let cli = std::path::PathBuf::from("/nonexistent/cli");
    let model = std::path::PathBuf::from("/nonexistent/model");
    let search = DataSearch::from_environment(Some(cli.clone()), Some(model.clone()));
    assert_eq!(search.env_dir, env);
    let c = search.candidates();
    let mut expected = vec![cli, model];
    expected.extend(env);
    expected.push(std::env::current_dir().unwrap().join("data"));
    assert_eq!(&c[..expected.len()], &expected[..]);
    assert_eq!(c.get(expected.len()), search.cache_dir.as_ref());
    assert_eq!(
        c.last().map(|p| p.as_path()),
        Some("/usr/share/datasets".as_ref())
    );
}
