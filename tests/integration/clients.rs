//! External programs the tests drive (`psql`, `isql`, `nginx`, moto): whether one
//! is installed. CI (`CI=true` or `QUIVER_REQUIRE_COURSE_DATA=1`, set by `.ci/run`, which
//! installs them) must not skip a test for a missing client, so there a missing one fails.

/// Whether `program --version` runs; otherwise prints why the caller skips, or panics in CI.
pub(crate) fn installed(program: &str, package: &str) -> bool {
    runs(
        program,
        &["--version"],
        &format!("apt-get install {package}"),
    )
}

/// Whether `program args` runs (for programs without `--version`); otherwise as
/// [`installed`], the reason naming how to `install` it.
pub(crate) fn runs(program: &str, args: &[&str], install: &str) -> bool {
    let runs = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return true;
    }
    let reason = format!("{program} is not installed ({install})");
    let required = std::env::var("QUIVER_REQUIRE_COURSE_DATA").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true");
    assert!(!required, "{reason}; CI requires it");
    eprintln!("skipping: {reason}");
    false
}
