//! File access confined to a data root, for servers whose clients must not read or write
//! any file the server's user can: with [`FileAccess`] set on the engine
//! ([`crate::EngineBuilder::file_access`]), every local path a statement names — in
//! `FROM 'x.csv'`, the file table functions, `CREATE EXTERNAL TABLE ... LOCATION` and
//! `COPY ... TO` — must lie inside the data root (reads) or the output directory (writes).
//! `..` is refused outright, and a path is checked again after resolving symbolic links, so
//! neither leads out.
//!
//! The checks sit where paths enter the engine, not in each reader: [`wrappers`] wraps the
//! table functions, table factories and URL tables the engine registers, and [`store`]
//! replaces the `file://` object store, which is where DataFusion lists directories and
//! reads and writes files at run time (so a file that appears in a listed directory later
//! is checked too).

mod store;
mod wrappers;

use std::path::{Component, Path, PathBuf};

use datafusion::error::{DataFusionError, Result};

pub(crate) use store::ConfinedFileSystem;
pub(crate) use wrappers::{ConfinedTableFactory, ConfinedTableFunction, ConfinedUrlTables};

/// Where statements may read and write local files.
#[derive(Debug, Clone)]
pub struct FileAccess {
    root: PathBuf,
    output: Option<PathBuf>,
}

/// A path refused by [`FileAccess`]; its SQLSTATE is 42501 (insufficient privilege).
#[derive(Debug, thiserror::Error)]
#[error("permission denied: {0}")]
pub struct AccessDenied(String);

impl FileAccess {
    /// Reads confined to `root` (a directory); writes refused.
    pub fn confined(root: impl AsRef<Path>) -> Result<FileAccess> {
        Ok(FileAccess {
            root: existing_dir("data root", root.as_ref())?,
            output: None,
        })
    }

    /// Also allows `COPY ... TO` into `dir` (which may lie inside or outside the root).
    pub fn with_output_dir(mut self, dir: impl AsRef<Path>) -> Result<FileAccess> {
        self.output = Some(existing_dir("output directory", dir.as_ref())?);
        Ok(self)
    }

    /// The data root, with symbolic links resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks that `path` (a file, a directory or a glob) may be read, and returns it as
    /// the absolute path to read (relative paths are relative to the data root).
    pub fn resolve_read(&self, path: &str) -> Result<String> {
        let path = self.absolute(path)?;
        if !path.contains(['*', '?', '[']) {
            self.check_in(&self.root, "the data root", Path::new(&path))?;
            return Ok(path);
        }
        // A glob: its fixed directory, and then every file it matches, symbolic links
        // resolved.
        let fixed: PathBuf = Path::new(&path)
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
            .collect();
        self.check_in(&self.root, "the data root", &fixed)?;
        if let Ok(matches) = glob::glob(&path) {
            for found in matches.flatten() {
                self.check_in(&self.root, "the data root", &found)?;
            }
        }
        Ok(path)
    }

    /// Checks that a file may be written at `path` (`COPY ... TO`; relative to the data
    /// root) and returns it as an absolute path.
    pub fn resolve_write(&self, path: &str) -> Result<String> {
        let Some(output) = &self.output else {
            return Err(denied(format!(
                "cannot write '{path}': the server allows no file writes (no output directory)"
            )));
        };
        let path = self.absolute(path)?;
        self.check_in(output, "the output directory", Path::new(&path))?;
        Ok(path)
    }

    /// `path` as an absolute local path, relative ones under the root (a trailing `/`, which
    /// marks a directory, is kept); URLs of other stores and `..` are refused.
    fn absolute(&self, path: &str) -> Result<String> {
        let plain = path.strip_prefix("file://").unwrap_or(path);
        if plain.contains("://") {
            return Err(denied(format!(
                "'{path}' is not a local file (only files under the data root can be used)"
            )));
        }
        if Path::new(plain)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(denied(format!("'..' is not allowed in paths ('{path}')")));
        }
        if Path::new(plain).is_absolute() {
            return Ok(plain.to_string());
        }
        let relative = plain.trim_start_matches("./");
        Ok(format!("{}/{relative}", self.root.display()))
    }

    /// Checks that `path` (absolute, without `..`) lies inside `dir` once symbolic links
    /// are resolved: the path itself if it exists, else its nearest existing parent.
    fn check_in(&self, dir: &Path, name: &str, path: &Path) -> Result<()> {
        let shown = path.display();
        let resolved = path
            .ancestors()
            .find(|p| p.exists())
            .map(Path::canonicalize)
            .transpose()
            .map_err(|e| denied(format!("cannot resolve '{shown}': {e}")))?;
        match resolved {
            Some(resolved) if resolved.starts_with(dir) => Ok(()),
            _ if path.starts_with(dir) => Err(denied(format!(
                "'{shown}' leads out of {name} through a symbolic link"
            ))),
            _ => Err(denied(format!("'{shown}' is outside {name}"))),
        }
    }
}

fn existing_dir(what: &str, dir: &Path) -> Result<PathBuf> {
    match dir.canonicalize() {
        Ok(dir) if dir.is_dir() => Ok(dir),
        Ok(_) => Err(DataFusionError::Configuration(format!(
            "the {what} '{}' is not a directory",
            dir.display()
        ))),
        Err(e) => Err(DataFusionError::Configuration(format!(
            "cannot use '{}' as the {what}: {e}",
            dir.display()
        ))),
    }
}

fn denied(message: String) -> DataFusionError {
    DataFusionError::External(Box::new(AccessDenied(message)))
}

/// The refusal behind `error`, if a refused path caused it.
pub fn access_denied(error: &DataFusionError) -> Option<&AccessDenied> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if let Some(denied) = error.downcast_ref::<AccessDenied>() {
            return Some(denied);
        }
        source = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confines_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let out = dir.path().join("out");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(root.join("sub/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("secret.csv"), "x\n1\n").unwrap();
        let access = FileAccess::confined(&root).unwrap();
        let root = access.root().to_path_buf();
        let inside = root.join("sub/a.csv").display().to_string();
        assert_eq!(access.resolve_read("sub/a.csv").unwrap(), inside);
        assert_eq!(
            access.resolve_read("./sub/").unwrap(),
            format!("{}/sub/", root.display())
        );
        assert!(access.resolve_read(&inside).is_ok());
        assert!(access.resolve_read("sub/*.csv").is_ok());
        assert!(access.resolve_read(&format!("file://{inside}")).is_ok());
        for refused in [
            "/etc/passwd".to_string(),
            "sub/../../secret.csv".to_string(),
            "s3://bucket/x.csv".to_string(),
        ] {
            let error = access.resolve_read(&refused).unwrap_err();
            assert!(access_denied(&error).is_some(), "{refused}: {error}");
        }
        #[cfg(unix)]
        {
            let link = root.join("link.csv");
            std::os::unix::fs::symlink(dir.path().join("secret.csv"), &link).unwrap();
            let error = access.resolve_read("link.csv").unwrap_err();
            assert!(error.to_string().contains("symbolic link"), "{error}");
            assert!(access.resolve_read("*.csv").is_err());
        }
        assert!(access.resolve_write("x.parquet").is_err());
        let access = access.with_output_dir(&out).unwrap();
        assert!(access.resolve_write("x.parquet").is_err());
        let out = out.canonicalize().unwrap();
        let target = out.join("x.parquet").display().to_string();
        assert_eq!(access.resolve_write(&target).unwrap(), target);
    }
}
