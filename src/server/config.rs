//! `quiver serve --config quiver.toml`: the server's settings in one file — listen
//! addresses, start-up scripts, file access, limits, TLS and several users — so that a
//! deployment does not live in a long command line. Options given on the command line win
//! over the file. Relative paths in the file are relative to the file's directory.
//!
//! ```toml
//! pg = "127.0.0.1:5433"
//! flight = "127.0.0.1:50051"
//! data_root = "data"
//! output_dir = "data/out"
//! init = ["tables.sql"]
//! read_only = false
//! max_connections = 32
//! statement_timeout = "30s"
//! idle_timeout = "30min"
//! auth_timeout = "30s"
//! shutdown_grace = "10s"
//! query_memory_limit = "2GB"
//! tls_cert = "cert.pem"
//! tls_key = "key.pem"
//!
//! [[users]]
//! name = "analyst"
//! password_env = "QUIVER_ANALYST_PASSWORD"
//!
//! [[users]]
//! name = "viewer"
//! password = "only if the file is readable by its owner alone"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use datafusion::error::{DataFusionError, Result};
use serde::Deserialize;

use super::Credentials;

/// The settings of a `quiver.toml`; every one is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where PostgreSQL clients connect.
    pub pg: Option<SocketAddr>,
    /// Where Flight SQL clients connect.
    pub flight: Option<SocketAddr>,
    /// Scripts run before clients are accepted.
    #[serde(default)]
    pub init: Vec<PathBuf>,
    /// The directory clients may read files from.
    pub data_root: Option<PathBuf>,
    /// The directory `COPY ... TO` may write into.
    pub output_dir: Option<PathBuf>,
    /// Refuse writes.
    pub read_only: Option<bool>,
    /// Most clients at once.
    pub max_connections: Option<usize>,
    /// Longest a statement may run (`30s`, `5min`).
    pub statement_timeout: Option<String>,
    /// How long a client may stay idle (`30min`).
    pub idle_timeout: Option<String>,
    /// How long a client may take to log in (`30s`).
    pub auth_timeout: Option<String>,
    /// How long running statements may go on at shutdown (`10s`).
    pub shutdown_grace: Option<String>,
    /// The most memory one query may hold (`2GB`).
    pub query_memory_limit: Option<String>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The users clients may log in as.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// One user: a name and either a password or the environment variable that holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name.
    pub name: String,
    /// The password itself (the file must then be readable by its owner alone).
    pub password: Option<String>,
    /// The environment variable that holds the password.
    pub password_env: Option<String>,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_env", &self.password_env)
            .finish()
    }
}

impl ServerConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<ServerConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read '{}': {e}", path.display())))?;
        let mut config = Self::parse(&text)
            .map_err(|e| config_error(format!("in '{}': {e}", path.display())))?;
        if config.users.iter().any(|u| u.password.is_some()) {
            check_private(path)?;
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        config.init.iter_mut().for_each(rebase);
        for path in [
            &mut config.data_root,
            &mut config.output_dir,
            &mut config.tls_cert,
            &mut config.tls_key,
        ]
        .into_iter()
        .flatten()
        {
            rebase(path);
        }
        Ok(config)
    }

    /// Parses the text of a config file (paths left as written).
    pub fn parse(text: &str) -> Result<ServerConfig> {
        toml::from_str(text).map_err(|e| config_error(e.to_string()))
    }

    /// The users with their passwords, read from the environment where the file says so.
    pub fn credentials(&self) -> Result<Vec<Credentials>> {
        self.users
            .iter()
            .map(|user| {
                let password = match (&user.password, &user.password_env) {
                    (Some(password), None) => password.clone(),
                    (None, Some(var)) => std::env::var(var).map_err(|_| {
                        config_error(format!(
                            "environment variable {var} (the password of user \"{}\") is not set",
                            user.name
                        ))
                    })?,
                    _ => {
                        return Err(config_error(format!(
                            "user \"{}\" needs exactly one of password and password_env",
                            user.name
                        )));
                    }
                };
                if password.is_empty() || user.name.is_empty() {
                    return Err(config_error(format!(
                        "user \"{}\" has an empty name or password",
                        user.name
                    )));
                }
                Ok(Credentials {
                    user: user.name.clone(),
                    password,
                })
            })
            .collect()
    }
}

/// A file that holds passwords must be readable by its owner alone.
fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| config_error(format!("cannot read '{}': {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(config_error(format!(
                "'{}' holds passwords but others may read it (chmod 600 it, or use password_env)",
                path.display()
            )));
        }
    }
    Ok(())
}

fn config_error(message: String) -> DataFusionError {
    DataFusionError::Configuration(format!("config file: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let config = ServerConfig::parse(
            r#"
            pg = "127.0.0.1:6000"
            init = ["a.sql"]
            statement_timeout = "5s"
            [[users]]
            name = "ann"
            password = "pw"
            [[users]]
            name = "bob"
            password_env = "QUIVER_CONFIG_TEST_UNSET"
            "#,
        )
        .unwrap();
        assert_eq!(config.pg, Some(SocketAddr::from(([127, 0, 0, 1], 6000))));
        assert_eq!(config.init, [PathBuf::from("a.sql")]);
        assert!(!format!("{config:?}").contains("\"pw\""));
        let error = config.credentials().unwrap_err();
        assert!(
            error.to_string().contains("QUIVER_CONFIG_TEST_UNSET"),
            "{error}"
        );
        let error = ServerConfig::parse("pgg = 1").unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn passwords_need_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiver.toml");
        std::fs::write(
            &path,
            "init = ['t.sql']\n[[users]]\nname = 'a'\npassword = 'b'\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(ServerConfig::load(&path).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.init, [dir.path().join("t.sql")]);
        assert_eq!(config.credentials().unwrap()[0].user, "a");
    }
}
