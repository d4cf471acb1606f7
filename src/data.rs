//! TEMPORARY compile stub; replaced by the real data module.
use std::path::PathBuf;
pub mod synthetic {
    #[derive(Debug, Clone)]
    pub struct SyntheticSpec {
        pub classes: usize,
        pub dim: usize,
        pub train: usize,
        pub test: usize,
        pub noise: f32,
    }
    pub fn generate(spec: &SyntheticSpec, seed: u64) -> super::Split {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let protos: Vec<Vec<f32>> = (0..spec.classes)
            .map(|_| (0..spec.dim).map(|_| rng.random::<f32>()).collect())
            .collect();
        let mut mk = |n: usize| {
            let mut images = Vec::new();
            let mut labels = Vec::new();
            for i in 0..n {
                let c = i % spec.classes;
                labels.push(c as u8);
                for d in 0..spec.dim {
                    let v: f32 = protos[c][d] + spec.noise * (rng.random::<f32>() - 0.5);
                    images.push(v.clamp(0.0, 1.0));
                }
            }
            super::Dataset {
                name: "synthetic".into(),
                images,
                labels,
                dim: spec.dim,
                classes: spec.classes,
            }
        };
        let train = mk(spec.train);
        let test = mk(spec.test);
        super::Split { train, test }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetName {
    Mnist,
    FashionMnist,
}
impl std::str::FromStr for DatasetName {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "mnist" => Ok(Self::Mnist),
            "fashion-mnist" => Ok(Self::FashionMnist),
            _ => Err(DataError::NotFound),
        }
    }
}
impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}",
            match self {
                Self::Mnist => "mnist",
                Self::FashionMnist => "fashion-mnist",
            }
        )
    }
}
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub dim: usize,
    pub classes: usize,
}
impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.dim..(i + 1) * self.dim]
    }
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        self.images.truncate(n * self.dim);
    }
}
#[derive(Debug, Clone)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}
pub struct DataSearch {
    pub cli_dir: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
}
impl DataSearch {
    pub fn from_environment(cli_dir: Option<PathBuf>, model_dir: Option<PathBuf>) -> Self {
        Self { cli_dir, model_dir }
    }
}
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("not found")]
    NotFound,
}

pub mod fetch {
    use std::path::{Path, PathBuf};
    pub fn cache_dir() -> Option<PathBuf> {
        None
    }
    pub fn default_mirrors(_n: super::DatasetName) -> Vec<String> {
        vec![]
    }
    pub fn fetch(
        _n: super::DatasetName,
        _d: &Path,
        _m: &[String],
        _p: &indicatif::ProgressBar,
    ) -> Result<PathBuf, super::DataError> {
        Err(super::DataError::NotFound)
    }
}
fn rd(p: PathBuf) -> Vec<u8> {
    use std::io::Read;
    let f = std::fs::File::open(p).unwrap();
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut v).unwrap();
    v
}
fn ds(dir: &std::path::Path, pre: &str) -> Dataset {
    let im = rd(dir.join(format!("{pre}-images-idx3-ubyte.gz")));
    let lb = rd(dir.join(format!("{pre}-labels-idx1-ubyte.gz")));
    Dataset {
        name: "x".into(),
        images: im[16..].iter().map(|&b| b as f32 / 255.0).collect(),
        labels: lb[8..].to_vec(),
        dim: 784,
        classes: 10,
    }
}
pub fn load(
    name: DatasetName,
    _s: &DataSearch,
    _d: bool,
    _p: &indicatif::ProgressBar,
) -> Result<Split, DataError> {
    let d = PathBuf::from(std::env::var("BSP_SIM_DATA").unwrap()).join(name.to_string());
    Ok(Split {
        train: ds(&d, "train"),
        test: ds(&d, "t10k"),
    })
}
