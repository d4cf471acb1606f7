//! `bsp-sim plot` as a researcher uses it: a folder holding one run plots that run (several
//! are listed), a sample, epoch or neuron that was not recorded is refused with what was,
//! and the PNGs declare 200 dpi.

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
