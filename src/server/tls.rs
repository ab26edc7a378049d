//! TLS for both protocols from one certificate chain and private key (PEM files): a rustls
//! acceptor for PostgreSQL clients (which ask for TLS with an `SSLRequest`, or connect with
//! TLS directly) and tonic's TLS for Flight SQL. With TLS configured, PostgreSQL clients
//! that do not use it are refused, and the Flight SQL port speaks only TLS.

use std::path::Path;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion_postgres::pgwire::tokio::tokio_rustls::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::ServerConfig;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::crypto::ring;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer,
};
use tonic::transport::{Identity, ServerTlsConfig};

/// A server certificate chain and its private key, both PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_pem", &format!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// From PEM text: the certificate chain (server certificate first) and the private key
    /// (PKCS#8, PKCS#1 or SEC1). Fails when they do not parse or do not belong together.
    pub fn from_pem(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Result<Self> {
        let identity = TlsIdentity {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        };
        identity.rustls_config()?;
        Ok(identity)
    }

    /// From PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                DataFusionError::Configuration(format!(
                    "cannot read the TLS {what} '{}': {e}",
                    path.display()
                ))
            })
        };
        Self::from_pem(read(cert, "certificate")?, read(key, "key")?)
    }

    fn rustls_config(&self) -> Result<ServerConfig> {
        let invalid = |what: &str, e: &dyn std::fmt::Display| {
            DataFusionError::Configuration(format!("invalid TLS {what}: {e}"))
        };
        let certs = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid("certificate", &e))?;
        if certs.is_empty() {
            return Err(invalid("certificate", &"no certificate in the PEM text"));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| invalid("key", &e))?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("configuration", &e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid("certificate or key", &e))?;
        // What PostgreSQL 17 clients ask for when they start with TLS directly.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(config)
    }

    /// The acceptor for PostgreSQL clients.
    pub(crate) fn pg_acceptor(&self) -> Result<TlsAcceptor> {
        Ok(TlsAcceptor::from(Arc::new(self.rustls_config()?)))
    }

    /// The TLS configuration of the Flight SQL server.
    pub(crate) fn flight_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}
