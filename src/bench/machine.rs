//! The machine a benchmark ran on, printed with its numbers (they mean little without it):
//! the CPU model and cores, the vector units the CPU has and those this build was compiled
//! to use, the date, and the program's version.

use std::fmt;
use std::time::SystemTime;

/// What `bsp-sim bench` reports about where it ran.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The CPU's model name (`/proc/cpuinfo` on Linux), or the architecture.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Vector units the CPU has, of those the build can use.
    pub has: Vec<&'static str>,
    /// Vector units this build was compiled for (`target-cpu=native`: the builder's).
    pub built_for: Vec<&'static str>,
    /// When the benchmark ran (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    /// This machine, now.
    pub fn this() -> Self {
        let (has, built_for) = vector_units();
        Machine {
            cpu: cpu_model().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            has,
            built_for,
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[&str]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(" ")
            }
        };
        writeln!(f, "machine            {}, {} cores", self.cpu, self.cores)?;
        writeln!(
            f,
            "vector units       {} (this build uses {})",
            list(&self.has),
            list(&self.built_for)
        )?;
        write!(
            f,
            "date               {}, bsp-sim {}",
            self.date,
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// The CPU's model name, where the system says it.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// (the vector units the CPU has, those the build uses), among the ones the kernels use
/// (x86-64; none listed elsewhere).
fn vector_units() -> (Vec<&'static str>, Vec<&'static str>) {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! units {
            ($($f:tt),*) => {
                [$(($f, std::arch::is_x86_feature_detected!($f), cfg!(target_feature = $f))),*]
            };
        }
        let units = units!("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl");
        let has = units.iter().filter(|u| u.1).map(|u| u.0).collect();
        let built = units.iter().filter(|u| u.2).map(|u| u.0).collect();
        (has, built)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (Vec::new(), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::Machine;

    #[test]
    fn the_machine_names_its_cpu_units_and_date() {
        let m = Machine::this();
        assert!(!m.cpu.is_empty() && m.cores >= 1);
        // A build never uses a unit its CPU lacks (it would not run).
        assert!(m.built_for.iter().all(|u| m.has.contains(u)), "{m:?}");
        let text = m.to_string();
        assert!(text.starts_with("machine            "), "{text}");
        assert!(
            text.contains("vector units") && text.contains(&m.date),
            "{text}"
        );
        assert!(m.date.ends_with('Z') && m.date.len() == "2026-12-05T10:45:00Z".len());
    }
}
