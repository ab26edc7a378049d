//! What the kernels' differential tests share: the adapter or a printed reason to skip, and
//! a seeded generator for their inputs.

use crate::gpu::device::{Gpu, gpu};

/// The GPU, or `None` after printing why the test skips; with `CI=true` a missing adapter
/// fails instead (CI installs lavapipe).
pub(crate) fn gpu_or_skip() -> Option<&'static Gpu> {
    match gpu() {
        Ok(g) => Some(g),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but no GPU adapter: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping: no GPU adapter: {reason}");
            None
        }
    }
}

/// The GPU if it has `SHADER_F64`, or `None` after printing why the test skips.
pub(crate) fn gpu_with_f64_or_skip() -> Option<&'static Gpu> {
    let g = gpu_or_skip()?;
    if g.info.f64 {
        Some(g)
    } else {
        eprintln!("skipping: adapter {} has no SHADER_F64", g.info.name);
        None
    }
}

/// A seeded generator (SplitMix64).
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
