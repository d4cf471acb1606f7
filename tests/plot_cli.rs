//! `bsp-sim plot` as a researcher uses it: a folder holding one run plots that run (several
//! are listed), a sample, epoch or neuron that was not recorded is refused with what was,
//! the PNGs declare 200 dpi, and every figure of a real run (weights, confusion matrix,
//! stacked rasters, element states) is drawn as a PNG and an SVG that parse, the confusion
//! matrix agreeing with the reported accuracy.

use assert_cmd::Command;

fn bsp() -> Command {
    Command::cargo_bin("bsp-sim").unwrap()
}

/// One traced epoch of the demo on 300 samples into `out`.
fn traced_run(out: &std::path::Path, seed: &str) {
    let status = bsp()
        .args([
            "run",
            "models/demo.yaml",
            "--epochs",
            "1",
            "--quiet",
            "--threads",
            "1",
        ])
        .args([
            "--set",
            "data.synthetic.train=300",
            "--set",
            "data.synthetic.test=100",
        ])
        .args(["--seed", seed, "--trace", "samples=every:100", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_folder_with_one_run_plots_it_and_one_with_several_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    traced_run(dir.path(), "1");
    let out = bsp().arg("plot").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let run = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for stem in [
        "metrics",
        "raster-layer0",
        "raster-layer2",
        "events-per-layer",
        "signals",
    ] {
        for ext in ["svg", "png"] {
            let f = run.join("plots").join(format!("{stem}.{ext}"));
            assert!(f.is_file(), "{} missing", f.display());
        }
    }
    // PNGs declare 200 dpi: a pHYs chunk of 7874 pixels per metre, with a valid CRC.
    let png = std::fs::read(run.join("plots/metrics.png")).unwrap();
    let at = png
        .windows(4)
        .position(|w| w == b"pHYs")
        .expect("pHYs chunk");
    let ppm = u32::from_be_bytes(png[at + 4..at + 8].try_into().unwrap());
    assert_eq!(ppm, 7874);
    assert_eq!(png[at + 12], 1);
    traced_run(dir.path(), "2");
    let out = bsp().arg("plot").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("holds 2 runs"), "{err}");
    assert!(
        err.contains("demo-") && err.contains("-s1") && err.contains("-s2"),
        "{err}"
    );
}

#[test]
fn an_unrecorded_sample_epoch_or_neuron_is_refused_with_what_was_recorded() {
    let dir = tempfile::tempdir().unwrap();
    traced_run(dir.path(), "1");
    let run = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--sample", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("sample 7 was not recorded"), "{err}");
    assert!(
        err.contains("epoch 1 sample 0") && err.contains("epoch 1 sample 200"),
        "{err}"
    );

    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--epoch", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("epoch 3 was not recorded"),
        "{}",
        stderr(&out)
    );

    // Layer 1 of the demo has 32 neurons; the default records 10 spread across it.
    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--neurons", "1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("layer 1, neuron 0"), "{err}");
    assert!(
        err.contains("layer 1: neurons 1, 4, 8, 11, 14, 17, 20, 24, 27, 30"),
        "{err}"
    );

    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--neurons", "1:4", "--sample", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_dpi_chunk_has_the_crc_png_readers_check() {
    // A 1x1 PNG header (signature and IHDR) followed by IEND.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(b"IHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0");
    png.extend_from_slice(&[0x90, 0x77, 0x53, 0xDE]);
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND\xAE\x42\x60\x82");
    let out = bsp_sim::plot::png_with_dpi(&png, 200).unwrap();
    assert_eq!(out.len(), png.len() + 21);
    let chunk = &out[33..54];
    assert_eq!(&chunk[4..8], b"pHYs");
    // CRC-32 of "pHYs" + 7874, 7874, 1, computed independently (zlib.crc32 in Python).
    assert_eq!(&chunk[17..21], &[0x6E, 0xD0, 0x75, 0x3E]);
    assert!(bsp_sim::plot::png_with_dpi(b"GIF89a", 200).is_none());
}

/// The run directory inside `out` (which holds one).
fn only_run(out: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// Parses a PNG as a reader would: signature, every chunk's CRC, an 8-bit RGB header, and
/// image data that inflates to one filtered row per line. Returns (width, height).
fn parse_png(path: &std::path::Path) -> (u32, u32) {
    use std::io::Read;
    let png = std::fs::read(path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", path.display());
    let (mut at, mut size, mut idat, mut ended) = (8, (0, 0), Vec::new(), false);
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let body = &png[at + 8..at + 8 + len];
        let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
        assert_eq!(crc, crc32(&png[at + 4..at + 8 + len]), "{}", path.display());
        match kind {
            b"IHDR" => {
                size = (
                    u32::from_be_bytes(body[0..4].try_into().unwrap()),
                    u32::from_be_bytes(body[4..8].try_into().unwrap()),
                );
                assert_eq!(&body[8..10], &[8, 2], "8-bit RGB");
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => ended = true,
            _ => {}
        }
        at += 12 + len;
    }
    assert!(ended, "{} has no IEND", path.display());
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(raw.len(), (size.1 * (1 + 3 * size.0)) as usize);
    size
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Reads an SVG and checks it is one whole `<svg>` element; returns its text.
fn parse_svg(path: &std::path::Path) -> String {
    let svg = std::fs::read_to_string(path).unwrap();
    let body = svg.trim();
    assert!(
        body.starts_with("<svg") || body.starts_with("<?xml"),
        "{}",
        path.display()
    );
    assert!(body.ends_with("</svg>"), "{}", path.display());
    assert_eq!(
        body.matches("<svg").count(),
        body.matches("</svg>").count(),
        "{}",
        path.display()
    );
    svg
}

#[test]
fn every_figure_of_a_real_run_is_drawn_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    traced_run(dir.path(), "1");
    let run = only_run(dir.path());
    let out = bsp().arg("plot").arg(&run).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let plots = run.join("plots");
    let mut stems: Vec<String> = [
        "metrics",
        "weights",
        "confusion",
        "raster-layer0",
        "raster-layer1",
        "raster-layer2",
        "raster-layers",
        "events-per-layer",
        "signals",
    ]
    .map(String::from)
    .to_vec();
    // One element-state figure per default neuron: the first recorded of each layer.
    let elements: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("elements-layer") && n.ends_with(".png"))
        .map(|n| n.trim_end_matches(".png").to_string())
        .collect();
    for l in 0..3 {
        assert!(
            elements
                .iter()
                .any(|n| n.starts_with(&format!("elements-layer{l}-neuron"))),
            "{elements:?}"
        );
    }
    stems.extend(elements);
    for stem in &stems {
        let (w, h) = parse_png(&plots.join(format!("{stem}.png")));
        assert_eq!(w, 1000, "{stem}");
        assert!(h >= 600, "{stem}");
        parse_svg(&plots.join(format!("{stem}.svg")));
    }
    // The stack has a panel per layer: 100 + 170 x 3 pixels.
    assert_eq!(parse_png(&plots.join("raster-layers.png")).1, 610);
    let svg = parse_svg(&plots.join("raster-layers.svg"));
    assert!(svg.contains("layer 0: neuron") && svg.contains("layer 2: neuron"));
    let svg = parse_svg(&plots.join("weights.svg"));
    assert!(
        svg.contains("layer 0 → 1") && svg.contains("layer 1 → 2"),
        "weights"
    );
    let svg = parse_svg(&plots.join(format!("{}.svg", stems.last().unwrap())));
    for element in ["J (metal)", "S (water)", "M (wood)", "H (fire)", "T (soil)"] {
        assert!(svg.contains(element), "{element}");
    }
}

#[test]
fn the_confusion_matrix_counts_every_test_sample_and_its_diagonal_is_the_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    traced_run(dir.path(), "1");
    let run = only_run(dir.path());
    let metrics = bsp_sim::report::read_metrics(&run.join("metrics.csv")).unwrap();
    let last = metrics.last().unwrap();
    let rows = bsp_sim::report::read_predictions(&run.join("predictions.csv")).unwrap();
    assert!(rows.iter().all(|r| r.epoch == last.epoch));
    let counts = bsp_sim::plot::confusion::counts(&rows, 10);
    assert_eq!(counts.len(), 10);
    let total: u64 = counts.iter().flatten().sum();
    let diagonal: u64 = (0..10).map(|k| counts[k][k]).sum();
    assert_eq!(total as usize, last.test_samples);
    assert_eq!(total, 100);
    assert_eq!(diagonal as f64 / total as f64, last.test_accuracy);
    let summary = bsp_sim::report::Summary::read(&run).unwrap();
    assert_eq!(
        summary.final_test_accuracy,
        Some(diagonal as f64 / total as f64)
    );
    // Every test sample once.
    let mut samples: Vec<usize> = rows.iter().map(|r| r.sample).collect();
    samples.sort_unstable();
    assert_eq!(samples, (0..100).collect::<Vec<_>>());
    // The figure says the same.
    let out = bsp().arg("plot").arg(&run).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = parse_svg(&run.join("plots/confusion.svg"));
    assert!(svg.contains(&format!("{diagonal} / {total}")), "title");
}
