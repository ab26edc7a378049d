//! quiver embedded in a Rust program: build an engine, query the sample files with SQL, get
//! Arrow record batches back, and write a result atomically with COPY.
//!
//! Run from the repository root: `cargo run --example embedded`

use quiver::Engine;
use quiver::datafusion::arrow::array::{Float64Array, Int64Array};
use quiver::datafusion::arrow::util::pretty::pretty_format_batches;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder().target_partitions(2).build()?;

    // Files are tables; the DataFrame is lazy until collected.
    let df = engine
        .sql(
            "SELECT station, count(temperature_c) AS readings, avg(temperature_c) AS mean_c
             FROM read_csv('examples/data/readings.csv', header => true)
             GROUP BY station ORDER BY station",
        )
        .await?;
    let batches = df.collect().await?;
    println!("{}", pretty_format_batches(&batches)?);

    // The batches are plain Arrow arrays.
    let readings = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("readings is not an Int64 column")?;
    let mean = batches[0]
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or("mean_c is not a Float64 column")?;
    assert_eq!(batches[0].num_rows(), 4, "one row per station");
    assert!(
        readings.iter().all(|n| n == Some(362)),
        "4 readings per station are missing"
    );
    assert!(mean.iter().flatten().all(|m| (5.0..20.0).contains(&m)));

    // Statements run in one session: a table made from one file, written to another.
    let out = std::env::temp_dir().join(format!("quiver-example-{}.parquet", std::process::id()));
    engine
        .sql("CREATE TABLE rainy AS SELECT * FROM 'examples/data/readings.parquet' WHERE rain_mm > 10")
        .await?;
    engine
        .sql(&format!("COPY rainy TO '{}'", out.display()))
        .await?;
    let count = engine
        .sql(&format!("SELECT count(*) FROM '{}'", out.display()))
        .await?
        .collect()
        .await?;
    println!("{}", pretty_format_batches(&count)?);
    std::fs::remove_file(&out)?;
    println!("embedded example: all checks passed");
    Ok(())
}
