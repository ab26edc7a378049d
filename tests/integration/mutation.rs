//! Bad input: seeded corrupted copies (truncations, byte flips, zeroed runs) of the
//! NetCDF-3, NetCDF-4 and HDF5 fixtures. Every query must end, within a time limit, in
//! either rows or an error that names the file; a panic anywhere fails the test.

use std::time::Duration;

use quiver::Engine;

use crate::netcdf_fixtures::fixture;

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One corrupted copy of `bytes` and a description of what was done.
fn mutate(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    match rng.below(4) {
        0 => {
            let len = rng.below(bytes.len());
            out.truncate(len);
            (out, format!("truncated to {len}"))
        }
        1 => {
            let flips = 1 + rng.below(8);
            let mut what = Vec::new();
            for _ in 0..flips {
                let at = rng.below(out.len());
                let bit = 1u8 << rng.below(8);
                out[at] ^= bit;
                what.push(format!("{at}^{bit}"));
            }
            (out, format!("flipped {}", what.join(",")))
        }
        2 => {
            let at = rng.below(out.len());
            let len = 1 + rng.below(16);
            for b in out.iter_mut().skip(at).take(len) {
                *b = 0xFF;
            }
            (out, format!("0xFF x{len} at {at}"))
        }
        _ => {
            // Corrupt the header region, where the structure lives.
            let at = rng.below(out.len().min(2048));
            out[at] = rng.next() as u8;
            (out, format!("header byte {at}"))
        }
    }
}

async fn run_one(sql: String) -> Result<Result<(), String>, String> {
    let task = tokio::spawn(async move {
        let engine = Engine::new().map_err(|e| e.to_string())?;
        let df = engine.sql(&sql).await.map_err(|e| e.to_string())?;
        df.collect().await.map(|_| ()).map_err(|e| e.to_string())
    });
    match tokio::time::timeout(Duration::from_secs(20), task).await {
        Err(_) => Err("hang: no answer within 20 s".into()),
        Ok(Err(join)) if join.is_panic() => Err("panic".into()),
        Ok(Err(join)) => Err(format!("task failed: {join}")),
        Ok(Ok(result)) => Ok(result),
    }
}

async fn mutation_run(source: &str, ext: &str, query: &str, seed: u64, copies: usize) {
    let bytes = std::fs::read(fixture(source)).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(seed);
    let (mut ok, mut errors) = (0, 0);
    for i in 0..copies {
        let (data, what) = mutate(&bytes, &mut rng);
        let path = dir.path().join(format!("m{i}.{ext}"));
        std::fs::write(&path, &data).expect("write");
        let sql = query.replace("{}", &path.display().to_string());
        match run_one(sql).await {
            Err(fatal) => panic!("{source} copy {i} ({what}): {fatal}"),
            Ok(Ok(())) => ok += 1,
            Ok(Err(message)) => {
                assert!(
                    message.contains(&format!("m{i}.{ext}")),
                    "{source} copy {i} ({what}): error does not name the file: {message}"
                );
                errors += 1;
            }
        }
    }
    eprintln!("{source}: {ok} read, {errors} clean errors");
    assert!(errors > 0, "no corruption was detected at all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_netcdf4_copies_fail_cleanly() {
    mutation_run(
        "nc4_groups.nc",
        "nc",
        "SELECT * FROM read_netcdf('{}')",
        0x5EED_0001,
        150,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_classic_copies_fail_cleanly() {
    mutation_run("classic.nc", "nc", "SELECT * FROM '{}'", 0x5EED_0002, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_hdf5_copies_fail_cleanly() {
    mutation_run(
        "sample.h5",
        "h5",
        "SELECT * FROM read_hdf5('{}', '/grid/elev')",
        0x5EED_0003,
        150,
    )
    .await;
}
