//! The transposed copy of a worker's rows: built from the rows, and its changed columns
//! written back into them.

/// Copies the columns `columns` (ascending) of the transposed copy `ct` (`pre` x `n_own`)
/// into the own rows `block` (`n_own` x `pre`). Up to eight consecutive columns by eight
/// rows go at a time as one register transpose (where the CPU has AVX: contiguous reads,
/// contiguous writes, masked where fewer than eight columns); the rest element by element.
pub(super) fn write_back(block: &mut [f32], ct: &[f32], columns: &[usize], n_own: usize) {
    if n_own == 0 {
        return;
    }
    let pre = block.len() / n_own;
    // Runs of consecutive columns, cut into groups of at most eight.
    let groups = columns
        .chunk_by(|a, b| b - a == 1)
        .flat_map(|run| run.chunks(8));
    for group in groups {
        let mut jj0 = 0;
        #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
        if group[0] + 8 <= pre {
            while jj0 + 8 <= n_own {
                // SAFETY: compiled only where the build enables AVX.
                unsafe { tile8::write_back(block, ct, (group[0], group.len(), jj0), (pre, n_own)) };
                jj0 += 8;
            }
        }
        for jj in jj0..n_own {
            let row = &mut block[jj * pre..][..pre];
            for &i in group {
                row[i] = ct[i * n_own + jj];
            }
        }
    }
}

/// Eight by eight tiles transposed in AVX registers.
#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
mod tile8 {
    use std::arch::x86_64::*;

    /// Columns `i0..i0 + w` (w <= 8, i0 + 8 <= pre) of rows `jj0..jj0 + 8`: from `ct`
    /// (`pre` x `n_own`) into `block` (`n_own` x `pre`).
    #[target_feature(enable = "avx")]
    pub(super) fn write_back(
        block: &mut [f32],
        ct: &[f32],
        (i0, w, jj0): (usize, usize, usize),
        (pre, n_own): (usize, usize),
    ) {
        let column = |c: usize| -> &[f32; 8] {
            ct[(i0 + c) * n_own + jj0..][..8]
                .try_into()
                .expect("eight values")
        };
        // SAFETY: each load reads the eight floats of a checked `&[f32; 8]`.
        let r: [__m256; 8] = std::array::from_fn(|c| {
            if c < w {
                unsafe { _mm256_loadu_ps(column(c).as_ptr()) }
            } else {
                _mm256_setzero_ps()
            }
        });
        let t = transpose(r);
        let lanes: [i32; 8] = std::array::from_fn(|k| if k < w { -1 } else { 0 });
        // SAFETY: reads the eight integers of `lanes`.
        let mask = unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) };
        for (b, v) in t.iter().enumerate() {
            let out: &mut [f32; 8] = (&mut block[(jj0 + b) * pre + i0..][..8])
                .try_into()
                .expect("eight values");
            // SAFETY: the store writes the eight floats, or those of the mask, of a checked
            // `&mut [f32; 8]`.
            unsafe {
                if w == 8 {
                    _mm256_storeu_ps(out.as_mut_ptr(), *v)
                } else {
                    _mm256_maskstore_ps(out.as_mut_ptr(), mask, *v)
                }
            };
        }
    }

    /// The transpose of an 8 x 8 matrix held as eight rows.
    #[target_feature(enable = "avx")]
    fn transpose(r: [__m256; 8]) -> [__m256; 8] {
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        [
            _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
            _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
            _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
            _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
            _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
        ]
    }
}

/// Writes the own rows `block` (`rows` x `pre`) transposed into `ct` (`pre` x `rows`), in
/// tiles of 16 columns so that both sides stay in cache.
pub(super) fn transpose_into(ct: &mut [f32], block: &[f32], rows: usize, pre: usize) {
    for i0 in (0..pre).step_by(16) {
        let i1 = (i0 + 16).min(pre);
        for jj in 0..rows {
            for i in i0..i1 {
                ct[i * rows + jj] = block[jj * pre + i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{transpose_into, write_back};

    #[test]
    fn write_back_copies_the_columns_asked_and_leaves_the_rest() {
        // Columns apart and in short runs, in groups of eight and a short last group.
        write_back_case(&[0, 1, 2, 3, 5, 8, 13, 20, 40, 41, 42, 43, 44, 45, 64, 69]);
        // Runs of eight and more (register-transposed tiles where the CPU has AVX, 37 rows
        // leaving a partial last tile), then columns apart.
        let mut columns: Vec<usize> = (8..32).collect();
        columns.extend([33, 34, 35, 36, 37, 38, 39, 41, 50, 60]);
        write_back_case(&columns);
    }

    /// 37 own rows of 70 presynaptic neurons, `columns` changed in the transposed copy.
    fn write_back_case(columns: &[usize]) {
        let (rows, pre) = (37, 70);
        let block: Vec<f32> = (0..rows * pre).map(|k| k as f32).collect();
        let mut ct = vec![0.0; rows * pre];
        transpose_into(&mut ct, &block, rows, pre);
        for &i in columns {
            for jj in 0..rows {
                ct[i * rows + jj] = -((jj * pre + i) as f32);
            }
        }
        let mut out = block.clone();
        write_back(&mut out, &ct, columns, rows);
        for jj in 0..rows {
            for i in 0..pre {
                let k = jj * pre + i;
                let want = if columns.contains(&i) {
                    -(k as f32)
                } else {
                    k as f32
                };
                assert_eq!(out[k], want, "row {jj} column {i}");
            }
        }
    }
}
