//! `benches/workloads`: quiver on the workloads of `../shared/bench/peers`, printing one JSON
//! line per workload in the peers' format (tool `quiver`) so that both can be compared side by
//! side on one machine in one run. See benches/README.md.
//!
//! ```text
//! cargo bench --bench workloads -- [--workloads titanic] [-n 5] [--data DIR] [--out FILE]
//! ```
//!
//! `cargo bench` passes `--bench`, which selects measuring. Without it (as under `cargo test`,
//! where this target has `test = true`) the binary runs its self-checks instead: the checksum
//! functions against values printed by Python, and the titanic and `dbbench.pivot` workloads
//! on tiny CSVs.

mod checksum;
mod climate;
mod cube;
mod dbbench;
#[cfg(feature = "gpu")]
mod kernels;
mod measure;
mod titanic;
mod udfs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use quiver::Engine;

use crate::measure::Sink;
use crate::titanic::{LoadMode, Titanic};

/// Every workload, as `family.name`.
const WORKLOADS: &[&str] = &[
    "titanic.load",
    "titanic.groupby",
    "titanic.pivot",
    "curvefit.results_csv",
    "curvefit.synthetic_1e5",
    "wordcount.top10_overall_and_per_book",
    "dbbench.pivot",
    "climate.grid_mean",
    "climate.point_annual",
    "climate.month_clim",
    "cube.grid_mean",
    "cube.month_clim",
    #[cfg(feature = "gpu")]
    "kernels.pairwise_distance",
    #[cfg(feature = "gpu")]
    "kernels.heat_step",
    #[cfg(feature = "gpu")]
    "kernels.matmul",
    #[cfg(feature = "gpu")]
    "kernels.curve_fit",
    #[cfg(feature = "gpu")]
    "kernels.list_curve_fit",
];

/// quiver on the peer benchmarks' workloads; one JSON line per workload.
#[derive(Debug, Parser)]
#[command(name = "workloads")]
struct Args {
    /// Workloads to run, comma-separated: a family (`titanic`, `curvefit`, `wordcount`,
    /// `dbbench`, `climate`, `cube`, `kernels` with the `gpu` feature),
    /// one workload (`titanic.groupby`) or `all`.
    #[arg(long, value_delimiter = ',', default_value = "titanic")]
    workloads: Vec<String>,
    /// Timed runs per workload (after one warm-up run).
    #[arg(short = 'n', long = "runs", default_value_t = 5)]
    runs: usize,
    /// Folder with the peers' data [default: $PEER_DATA, else /tmp/peer-data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also append the JSON lines to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows of the titanic CSV (`titanic_1e6.csv` for 1,000,000, else `titanic_<rows>.csv`).
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// How the titanic CSV becomes an in-memory table.
    #[arg(long, value_enum, default_value_t = LoadMode::Sql)]
    load_mode: LoadMode,
    /// Engine setting `target_partitions` [default: the engine's, the number of cores].
    #[arg(long)]
    target_partitions: Option<usize>,
    /// Engine setting `batch_size` [default: the engine's, 8192].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Further engine settings, `key=value` (as `SET key = value`), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
    /// Measure (passed by `cargo bench`); without it the self-checks run.
    #[arg(long)]
    bench: bool,
}

fn main() -> ExitCode {
    if !std::env::args().skip(1).any(|a| a == "--bench") {
        return selftest::run();
    }
    let args = Args::parse();
    if args.list {
        WORKLOADS.iter().for_each(|w| println!("{w}"));
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn selected(args: &Args, workload: &str) -> bool {
    let family = workload.split('.').next().unwrap_or(workload);
    args.workloads
        .iter()
        .any(|w| w == workload || w == family || w == "all")
}

fn build_engine(args: &Args) -> quiver::Result<Engine> {
    let mut builder = Engine::builder();
    if let Some(n) = args.target_partitions {
        builder = builder.target_partitions(n);
    }
    if let Some(n) = args.batch_size {
        builder = builder.batch_size(n);
    }
    for setting in &args.settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| quiver::Error::InvalidOption {
                option: "--set".into(),
                value: setting.clone(),
                reason: "expected KEY=VALUE".into(),
            })?;
        builder = builder.option(key.trim(), value.trim());
    }
    builder.build().map_err(Into::into)
}

fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let unknown: Vec<&String> = args
        .workloads
        .iter()
        .filter(|w| {
            *w != "all"
                && !WORKLOADS
                    .iter()
                    .any(|k| k == w || k.split('.').next() == Some(w.as_str()))
        })
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "unknown workload(s) {unknown:?}; known: {}",
            WORKLOADS.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let data_dir = args
        .data
        .clone()
        .or_else(|| std::env::var_os("PEER_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/tmp/peer-data"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let engine = build_engine(&args)?;
    let sink = Sink::new(args.out.clone());

    let (load, groupby, pivot) = (
        selected(&args, "titanic.load"),
        selected(&args, "titanic.groupby"),
        selected(&args, "titanic.pivot"),
    );
    if load || groupby || pivot {
        let path = titanic::csv_path(&data_dir, args.rows);
        if !path.is_file() {
            let rows = if args.rows == 1_000_000 {
                String::new()
            } else {
                format!(" --rows {}", args.rows)
            };
            eprintln!(
                "{} is missing. Generate it with the peers' script (needs numpy and pandas, \
                 see ../shared/bench/peers/README.md):\n\n    \
                 PEER_DATA={} python3 ../shared/bench/peers/titanic.py --generate{rows}\n\n\
                 or point --data / $PEER_DATA at the folder that has it.",
                path.display(),
                data_dir.display(),
            );
            return Ok(ExitCode::from(2));
        }
        let titanic = Titanic {
            path,
            load_mode: args.load_mode,
            runs: args.runs,
        };
        runtime.block_on(titanic.run(&engine, load, groupby, pivot, &sink))?;
    }
    let course = udfs::course_dir();
    let results_csv = [data_dir.join("results.csv"), course.join("results.csv")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| course.join("results.csv"));
    if selected(&args, "curvefit.results_csv") || selected(&args, "curvefit.synthetic_1e5") {
        let synthetic = data_dir.join("curvefit_synthetic_1e5.csv");
        let synthetic = if selected(&args, "curvefit.synthetic_1e5") {
            if !synthetic.is_file() {
                eprintln!(
                    "{} is missing; generate it with\n\n    \
                     python3 benches/workloads/make_curvefit_data.py --out {}\n",
                    synthetic.display(),
                    data_dir.display()
                );
                return Ok(ExitCode::from(2));
            }
            Some(synthetic.as_path())
        } else {
            None
        };
        runtime.block_on(udfs::curvefit(
            &engine,
            &results_csv,
            synthetic,
            args.runs,
            &sink,
        ))?;
    }
    if selected(&args, "wordcount.top10_overall_and_per_book") {
        let books = [data_dir.join("books"), course.join("books")]
            .into_iter()
            .find(|p| p.is_dir())
            .unwrap_or_else(|| course.join("books"));
        runtime.block_on(udfs::wordcount(
            &engine,
            &books,
            &results_csv,
            args.runs,
            &sink,
        ))?;
    }
    if selected(&args, "dbbench.pivot") {
        let path = data_dir.join(dbbench::CSV);
        if !path.is_file() {
            eprintln!(
                "{} is missing; generate it with the peers' script:\n\n    \
                 PEER_DATA={} python3 ../shared/bench/peers/dbbench_groupby.py --generate\n",
                path.display(),
                data_dir.display()
            );
            return Ok(ExitCode::from(2));
        }
        runtime.block_on(dbbench::pivot(&engine, &path, args.runs, &sink))?;
    }
    if WORKLOADS
        .iter()
        .any(|w| w.starts_with("climate.") && selected(&args, w))
    {
        let dir = [data_dir.clone(), course.clone()]
            .into_iter()
            .find(|d| d.join("tas1840.nc").is_file())
            .unwrap_or(course);
        runtime.block_on(climate::run(
            &engine,
            &dir,
            |w| selected(&args, w),
            args.runs,
            &sink,
        ))?;
    }
    if WORKLOADS
        .iter()
        .any(|w| w.starts_with("cube.") && selected(&args, w))
    {
        let threads = args.target_partitions.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        runtime.block_on(cube::run(
            &engine,
            &data_dir.join("cube"),
            |w| selected(&args, w),
            args.runs,
            threads,
            &sink,
        ))?;
    }
    #[cfg(feature = "gpu")]
    if WORKLOADS
        .iter()
        .any(|w| w.starts_with("kernels.") && selected(&args, w))
    {
        runtime.block_on(kernels::run(
            &engine,
            |w| selected(&args, w),
            args.runs,
            &sink,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `cargo test` runs: checks that need neither the peers' data nor timing.
mod selftest {
    use std::process::ExitCode;

    use quiver::Engine;

    use crate::checksum;
    use crate::dbbench;
    use crate::measure::Sink;
    use crate::titanic::{self, LoadMode, Titanic};

    /// A 10-row titanic CSV; its group-by answer, checked with `_common.seq_checksum` on
    /// pandas' `groupby(["Sex", df["Age"] < 12])["Survived"].mean()`, is
    /// female/adult 2/3 (the empty Age counts as adult), female/child 1, male/adult 1/4,
    /// male/child 1/2.
    const TINY_CSV: &str = "\
PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked
1,0,3,\"Harts, Mr. George Thomas\",male,14.0,2,0,PP 2001976,4.4618,,Q
2,1,1,\"Brans, Miss. Ida\",female,,0,0,1805587,10.1364,C85,S
3,1,2,\"Carl, Master. Owen\",male,4.0,1,1,A/5 2112,21.0,,S
4,0,3,\"Dunson, Master. John\",male,11.5,1,1,A/5 2113,21.0,,
5,1,1,\"Ecks, Mrs. Anna\",female,38.0,1,0,PC 17599,71.2833,C85 C87,C
6,0,3,\"Falley, Mrs. Edith\",female,22.0,1,0,3101282,7.925,,S
7,1,3,\"Golds, Miss. Alice\",female,3.0,0,1,347742,11.1333,,S
8,1,1,\"Hartman, Mr. Karl\",male,,0,0,113803,53.1,E46,S
9,0,3,\"Ivanson, Mr. Johan\",male,45.5,0,0,370376,7.75,,Q
10,0,2,\"Jansen, Mr. Ernst\",male,12.0,0,0,248738,13.0,,S
";
    const TINY_CHECKSUM: &str = "n=4;sum=2.41667;wsum=5.41667";
    /// `seq_checksum(pivot_table('Survived', index='Sex', columns='Pclass').to_numpy().ravel())`
    /// on the same CSV, computed with pandas: female 1, NaN (no female in class 2), 0.5;
    /// male 1, 0.5, 0.
    const TINY_PIVOT_CHECKSUM: &str = "n=6;sum=nan;wsum=nan";

    /// Seven rows in db-benchmark's G1 layout; `seq_checksum` of pandas'
    /// `pivot_table('v1', index='id2', columns='id1', aggfunc='sum').to_numpy().ravel()`
    /// on them: id001: 7, 4, 1; id002: 8, 2, 6.
    const TINY_G1_CSV: &str = "\
id1,id2,id3,id4,id5,id6,v1,v2,v3
id001,id002,id0000000001,1,2,3,5,10,90.5
id002,id001,id0000000002,4,5,6,4,5,78.25
id001,id002,id0000000003,7,8,9,3,1,1.5
id003,id001,id0000000004,1,2,3,1,2,3.0
id002,id002,id0000000005,1,2,3,2,3,4.0
id001,id001,id0000000006,1,2,3,7,3,4.0
id003,id002,id0000000007,1,2,3,6,3,4.0
";
    const TINY_G1_PIVOT_CHECKSUM: &str = "n=6;sum=28;wsum=96";

    async fn tiny_dbbench_pivot() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(dbbench::CSV);
        std::fs::write(&path, TINY_G1_CSV).map_err(|e| e.to_string())?;
        let engine = Engine::builder()
            .target_partitions(2)
            .build()
            .map_err(|e| e.to_string())?;
        let record = dbbench::pivot(&engine, &path, 1, &Sink::quiet())
            .await
            .map_err(|e| e.to_string())?;
        if record.checksum != TINY_G1_PIVOT_CHECKSUM {
            return Err(format!("checksum {}", record.checksum));
        }
        Ok(())
    }

    async fn tiny_workloads(load_mode: LoadMode) -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = titanic::csv_path(dir.path(), 10);
        std::fs::write(&path, TINY_CSV).map_err(|e| e.to_string())?;
        let engine = Engine::builder()
            .target_partitions(2)
            .build()
            .map_err(|e| e.to_string())?;
        let bench = Titanic {
            path,
            load_mode,
            runs: 1,
        };
        let records = bench
            .run(&engine, true, true, true, &Sink::quiet())
            .await
            .map_err(|e| e.to_string())?;
        let checksums: Vec<&str> = records.iter().map(|r| r.checksum.as_str()).collect();
        if checksums != ["rows=10", TINY_CHECKSUM, TINY_PIVOT_CHECKSUM] {
            return Err(format!("checksums {checksums:?}"));
        }
        Ok(())
    }

    pub fn run() -> ExitCode {
        let mut checks = checksum::self_checks();
        #[cfg(feature = "gpu")]
        checks.push((
            "kernels: GPU times read from EXPLAIN ANALYZE",
            crate::kernels::self_check(),
        ));
        match tokio::runtime::Runtime::new() {
            Ok(runtime) => {
                for (name, mode) in [
                    (
                        "titanic workloads on a tiny CSV (load via SQL)",
                        LoadMode::Sql,
                    ),
                    (
                        "titanic workloads on a tiny CSV (load via collect)",
                        LoadMode::Collect,
                    ),
                    (
                        "titanic workloads on a tiny CSV (load via collect + concat)",
                        LoadMode::CollectConcat,
                    ),
                ] {
                    checks.push((name, runtime.block_on(tiny_workloads(mode))));
                }
                checks.push((
                    "dbbench.pivot on a tiny G1 CSV",
                    runtime.block_on(tiny_dbbench_pivot()),
                ));
            }
            Err(e) => checks.push(("tokio runtime", Err(e.to_string()))),
        }
        let failed = checks.iter().filter(|(_, r)| r.is_err()).count();
        for (name, result) in &checks {
            match result {
                Ok(()) => println!("check {name} ... ok"),
                Err(e) => println!("check {name} ... FAILED: {e}"),
            }
        }
        println!(
            "self-checks: {} passed, {failed} failed",
            checks.len() - failed
        );
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
